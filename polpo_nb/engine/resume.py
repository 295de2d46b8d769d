"""Exact resume, the engine's part: an attempt a crash interrupted after it stored steps runs on.

Recovery (leases.py) marks such an attempt `crashed` (an interrupt, `interrupted`: the work done stays) and
gives its task back, as for any attempt. When
the task runs again, an attempt that had stored steps (`agents/steps.py`: model responses, tool results,
`ctx.step` results) is not replaced by a new one: the same attempt (number, phase, model, log session)
is reopened, and its agent continues after its last stored step. One attempt in the history, one
transcript, its usage counted once. An attempt that stored nothing starts over as a new attempt.
"""

from __future__ import annotations

from ..store.rows import AttemptRow
from ..store.sqlite import Store


def continued_attempt(store: Store, task_id: str, last: int) -> AttemptRow | None:
    """The task's last attempt (number `last`) when it is one to run on, else None. Asked only when a
    task starts its first attempt in this process and has earlier ones: never on the hot path."""
    if not last:
        return None
    with store.read() as tx:
        return tx.resumable_attempt(task_id, last)
