"""The scheduler side of the Dask executor: polpo, not Dask, retries an attempt whose worker died.

Imported by the scheduler when the executor registers the plugin, so it stays tiny and imports nothing
of polpo but itself.
"""

from __future__ import annotations

from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin


class AttemptsPlugin(SchedulerPlugin):
    """Dask re-runs a task whose worker died until the task was `suspicious` more than
    `distributed.scheduler.allowed-failures` times. polpo's attempts start at that mark, so the first
    worker death is a `KilledWorker` error for the attempt and the engine retries it, recorded and counted
    against `maxRetries`, instead of Dask running it again behind the engine's back."""

    idempotent = True

    def __init__(self, key_prefix: str) -> None:
        self.key_prefix = key_prefix

    def update_graph(self, scheduler: Any, *, tasks: Any = (), **kwargs: Any) -> None:
        for key in tasks:
            if isinstance(key, str) and key.startswith(self.key_prefix):
                ts = scheduler.tasks.get(key)
                if ts is not None:
                    ts.suspicious = max(ts.suspicious, scheduler.allowed_failures)
