"""Who runs what, and taking over what nobody runs any more: leases, owners, recovery.

Each engine renews the leases of the mission runs it holds every `HEARTBEAT_SECONDS`. On start it
recovers the attempts a dead process left `running` (crashed, their task back to pending without
burning a retry); `resume` of an orphaned run takes its in-flight attempts over the same way. A
command for a run another live process owns raises `ForeignRunError`, so the project can route it.
"""

from __future__ import annotations

import asyncio
import logging

from ..errors import ForeignRunError, StoreWriteError
from ..spec import MissionRecord, TaskRecord, TaskStatus
from ..spec.status import RUNNING_TASK_STATES
from ..store.journal import Emit, Journal
from ..store.rows import AttemptRow
from ..store.sqlite import Store, Tx
from .ownership import HEARTBEAT_SECONDS, NO_OWNER, lease_deadline, owner_alive
from .run import Run, RunFlags
from .writes import end_running_attempts, put_task

REQUEUED = "requeued after the process running it died"
#: Said of a task in flight when its run stopped because the store refused a write (Dispatcher.halt).
REQUEUED_AFTER_HALT = "requeued after its run stopped: the store refused a write"
log = logging.getLogger(__name__)


class Leases:
    def __init__(self, store: Store, journal: Journal, owner: str, runs: dict[str, Run]) -> None:
        self.store = store
        self.journal = journal
        self.owner = owner
        self._runs = runs  # the engine's runs: only those with a mission hold a lease
        self._heartbeat: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._recover_orphans()
        self._heartbeat = asyncio.create_task(self._renew_leases(), name="polpo-lease")

    def stop(self) -> None:
        if self._heartbeat:
            self._heartbeat.cancel()

    async def _renew_leases(self) -> None:
        unrenewed = False  # the last renewal was refused (said once in the log, until one succeeds)
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            if any(r.mission for r in self._runs.values()):
                try:
                    await self.journal.write(self._renew)
                except StoreWriteError as exc:  # the next heartbeat tries again: the store may be writable by then
                    if not unrenewed:
                        log.error("polpo: this process's leases cannot be renewed (tried again every %g s): %s",
                                  HEARTBEAT_SECONDS, exc.message)
                    unrenewed = True
                    continue
                if unrenewed:
                    log.warning("polpo: this process's leases are renewed again")
                    unrenewed = False

    def _renew(self, tx: Tx, emit: Emit) -> None:
        tx.renew_leases(self.owner, lease_deadline())

    async def _recover_orphans(self) -> None:
        """Attempts left `running` by a dead process: the attempt is marked crashed and its task goes
        back to pending without burning a retry; finished tasks are never touched."""
        with self.store.read() as tx:
            orphans = [a for a in tx.running_attempts() if not self._owner_alive(tx, a.owner)]
        for attempt in orphans:
            def requeue(tx: Tx, emit: Emit, a: AttemptRow = attempt) -> None:
                tx.finish_attempt(a.task_id, a.number, "crashed", None)
                task = tx.task(a.task_id)
                if task.status in RUNNING_TASK_STATES:
                    put_task(tx, emit, task, TaskStatus.PENDING, reason=REQUEUED)
            await self.journal.write(requeue)

    def _owner_alive(self, tx: Tx, owner: str) -> bool:
        if owner == self.owner:
            return True
        return owner_alive(owner, tx.owner_lease(owner))

    async def take_over(self, run: Run, reason: str = REQUEUED) -> None:
        """Take over an orphaned run: attempts in flight run again (at-least-once), done work stays.
        `reason` says why they were cut off (their process died, or the store refused a write)."""
        def requeue(tx: Tx, emit: Emit) -> list[TaskRecord]:
            end_running_attempts(tx, run.tasks, "crashed")
            return [put_task(tx, emit, t, TaskStatus.PENDING, reason=reason, phase=None)
                    for t in run.tasks.values() if t.status in RUNNING_TASK_STATES]
        for new in await self.journal.write(requeue):
            run.tasks[new.id] = new

    def run_owner(self, mission_id: str) -> tuple[str, bool] | None:
        """(owner, alive) of a mission's run row, or None when no process claims it."""
        with self.store.read() as tx:
            row = tx.run(mission_id)
        if row is None or row.owner == NO_OWNER:
            return None
        return row.owner, row.owner == self.owner or owner_alive(row.owner, row.lease_until)

    def flags(self, mission_id: str) -> RunFlags:
        """What humans decided in the mission's last run (kept in its run row for a resume)."""
        with self.store.read() as tx:
            row = tx.run(mission_id)
        return RunFlags.from_json(row.state) if row else RunFlags()

    def refuse_foreign(self, mission: MissionRecord) -> None:
        """Raise ForeignRunError when another live process owns the run (the project routes the command)."""
        owner = self.run_owner(mission.id)
        if owner and owner[0] != self.owner and owner[1]:
            raise ForeignRunError(f"Mission {mission.name!r} is run by another live process ({owner[0]})", owner[0])

    def refuse_task_foreign(self, task: TaskRecord) -> None:
        if task.mission_id:
            with self.store.read() as tx:
                self.refuse_foreign(tx.mission(task.mission_id, with_tasks=False))
