"""The rows of an attempt's durable steps (`steps` table), mixed into `Tx`.

A step is something an agent finished inside an attempt that must not happen twice: a model response
or a tool result of an LLM agent, a `ctx.step` of a function agent (`agents/steps.py` gives them their
meaning). The rows only keep them in order, per attempt, with a kind, a key and a JSON document.
"""

from __future__ import annotations

from dataclasses import dataclass

from .rows import AttemptRow
from .statements import Statements


@dataclass(slots=True, frozen=True)
class StepRow:
    id: int
    task_id: str
    attempt: int
    kind: str
    key: str
    doc: str


_COLUMNS = "id, task_id, attempt, kind, key, doc"
#: How an attempt ended that runs on from its steps when its task runs again: a crash (its process died)
#: or an interrupt (Ctrl-C, SIGTERM: the work done stays, as a crash keeps it).
_RUNS_ON = "'crashed', 'interrupted'"


class StepRows(Statements):
    """The step queries of a transaction (`Tx` inherits them)."""

    def add_steps(self, task_id: str, attempt: int, steps: list[tuple[str, str, str]]) -> None:
        """Append `(kind, key, doc)` steps to an attempt, in order."""
        for kind, key, doc in steps:
            self._x("INSERT INTO steps (task_id, attempt, kind, key, doc) VALUES (?, ?, ?, ?, ?)",
                    (task_id, attempt, kind, key, doc))

    def steps(self, task_id: str, attempt: int) -> list[StepRow]:
        cur = self._x(f"SELECT {_COLUMNS} FROM steps WHERE task_id = ? AND attempt = ? ORDER BY id", (task_id, attempt))
        return [StepRow(*row) for row in cur]

    def drop_steps(self, task_ids: list[str]) -> None:
        """These tasks start afresh (a retry, a re-run): the steps a crashed attempt of theirs stored, which
        would make that attempt run on, go."""
        for task_id in task_ids:
            self._x("DELETE FROM steps WHERE task_id = ?", (task_id,))

    def prune_finished_steps(self) -> int:
        """Forget the steps of attempts that ended (completed, failed, killed, ...): only an attempt that
        is running, or that a crash or an interrupt ended and may run on, can need them. Their record stays in the
        attempt's row and log session. Returns how many rows went."""
        cur = self._x("DELETE FROM steps WHERE NOT EXISTS (SELECT 1 FROM attempts a WHERE a.task_id = steps.task_id "
                      f"AND a.number = steps.attempt AND a.status IN ('running', {_RUNS_ON}))")
        return cur.rowcount

    def resumable_attempt(self, task_id: str, number: int) -> AttemptRow | None:
        """Attempt `number` of the task if a crash or an interrupt ended it after it stored steps (else None)."""
        row = self._x("SELECT task_id, number, status, phase, agent, model, owner, started_at, finished_at, result "
                      f"FROM attempts WHERE task_id = ? AND number = ? AND status IN ({_RUNS_ON}) AND EXISTS "
                      "(SELECT 1 FROM steps WHERE task_id = ? AND attempt = ?)",
                      (task_id, number, task_id, number)).fetchone()
        return AttemptRow(*row) if row is not None else None

    def reopen_attempt(self, task_id: str, number: int, owner: str) -> None:
        """A crashed attempt runs on (exact resume): running again, in `owner`, its start time kept."""
        self._x("UPDATE attempts SET status = 'running', owner = ?, finished_at = NULL, result = NULL "
                "WHERE task_id = ? AND number = ?", (owner, task_id, number))
