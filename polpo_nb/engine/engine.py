"""The orchestrator: runs missions and standalone tasks on one asyncio loop.

`Engine` is the face the project calls; the work is done in rooms of one job each, all on the
engine's loop and all writing through the journal (durable before their events are published):

- `dispatch.py`   runs and dispatch: starting runs, the ready queue, jobs, what follows a settled task
- `attempts.py`   one task's attempts: execution, review, fix, retries and escalation
- `holds.py`      gates, delays, checkpoints and deadlines as pure functions of a run
- `pausing.py`    acting on them: pausing the mission, the delay and deadline timers
- `controls.py`   operator commands: abort, resume, rerun, interrupt, kill, approve/reject, retry, reassess
- `leases.py`     who runs what: lease renewal, orphan recovery, take-over, foreign runs refused
- `writes.py`     the writes they share: a task with its transition, a mission's status, a run's flags
"""

from __future__ import annotations

from collections.abc import Callable

from ..events.catalog import CatalogEvent
from ..spec import MissionRecord, TaskRecord
from .attempts import Attempts
from .controls import Controls
from .deps import EngineDeps
from .dispatch import Dispatcher, NewMission
from .leases import Leases
from .run import Run
from .writes import Writes


class Engine:
    def __init__(self, deps: EngineDeps) -> None:
        self.d = deps
        self.runs: dict[str, Run] = {}  # by run key: a mission's id, or "task:<id>" for a standalone task
        writes = Writes(deps.journal, deps.owner, self.runs)
        self.leases = Leases(deps.store, deps.journal, deps.owner, self.runs)
        self.dispatcher = Dispatcher(deps, self.runs, writes, Attempts(deps, writes), self.leases)
        self.controls = Controls(deps, self.runs, writes, self.leases, self.dispatcher)

    async def start(self) -> None:
        await self.leases.start()

    async def close(self) -> None:
        self.leases.stop()
        await self.dispatcher.close()

    def run_owner(self, mission_id: str) -> tuple[str, bool] | None:
        """(owner, alive) of a mission's run row, or None when no process claims it."""
        return self.leases.run_owner(mission_id)

    # == runs ==========================================================================================

    def has_runs(self) -> bool:
        """Whether this process runs anything now."""
        return bool(self.runs)

    def is_running(self, key: str) -> bool:
        """Whether this process runs `key`: a mission's id, or `task:<id>` for a standalone task."""
        return key in self.runs

    async def wait_idle(self, key: str) -> Run | None:
        """Wait until the run of `key` here has nothing moving (finished, paused or waiting for a human)
        and return it; None at once when this process does not run it. A run stopped because the store
        refused its writes raises why (StoreWriteError), until it is resumed: to the caller alone, not to the
        log as well (a notebook cell, `polpo run`, would say it twice)."""
        run = self.runs.get(key)
        if run is None:
            halted = self.dispatcher.halted.get(key)
            if halted is not None:
                raise halted
            return None
        with self.dispatcher.awaiting(key):
            await run.idle.wait()
        if run.halted is not None:
            raise run.halted
        return run

    def halted(self) -> dict[str, str]:
        """The runs this process stopped because the store refused their writes, not resumed since:
        their keys, and why (`Dispatcher.halt`), as the API lists it (the file is named in the log and in
        what `wait()` raises, not in a listing a client of the server reads)."""
        return {key: error.public_message for key, error in self.dispatcher.halted.items()}

    def redefine_mission(self, mission: MissionRecord) -> None:
        """A running mission's definition was edited: its run goes on with the new one."""
        run = self.runs.get(mission.id)
        if run is not None:
            self.dispatcher.redefine(run, mission)

    async def execute_mission(self, mission_id: str, saved: MissionRecord | None = None,
                              create: NewMission | None = None, *,
                              announce: Callable[[int], CatalogEvent] | None = None) -> Run:
        return await self.dispatcher.execute_mission(mission_id, saved, create, announce=announce)

    async def execute_task(self, task_id: str) -> Run:
        return await self.dispatcher.execute_task(task_id)

    def refuse_foreign(self, mission: MissionRecord) -> None:
        """ForeignRunError when another live process holds the mission's run: an edit of its tasks
        travels there (the project routes it), or that process's copies would undo it."""
        if mission.id not in self.runs:
            self.leases.refuse_foreign(mission)

    def unplayable(self, mission_id: str) -> str | None:
        return self.dispatcher.unplayable(mission_id)

    def update_running_task(self, task: TaskRecord) -> None:
        self.dispatcher.update_running_task(task)

    async def add_task_to_run(self, task: TaskRecord) -> None:
        await self.dispatcher.add_task_to_run(task)

    def remove_task_from_run(self, task_id: str) -> None:
        self.dispatcher.remove_task_from_run(task_id)

    # == operator commands =============================================================================

    async def interrupt(self, mission_id: str) -> None:
        await self.controls.interrupt(mission_id)

    async def abort(self, mission_id: str) -> None:
        await self.controls.abort(mission_id)

    async def resume(self, mission_id: str, *, retry_failed: bool = False) -> Run:
        return await self.controls.resume(mission_id, retry_failed=retry_failed)

    async def rerun(self, mission_id: str, from_task: str) -> Run:
        return await self.controls.rerun(mission_id, from_task)

    async def kill(self, task_id: str) -> TaskRecord:
        return await self.controls.kill(task_id)

    async def decide(self, task_id: str, approve: bool, note: str | None = None) -> TaskRecord:
        return await self.controls.decide(task_id, approve, note)

    async def retry(self, task_id: str) -> TaskRecord:
        return await self.controls.retry(task_id)

    async def reassess(self, task_id: str) -> TaskRecord:
        return await self.controls.reassess(task_id)


__all__ = ["Engine", "EngineDeps"]
