"""The engine's writes: a task (with its checked transition and its `task:transition`), a mission's
status (with its events and the run row), a run's flags.

Every room writes through these, so a transition always goes through the state table and every
`task:transition` and `mission:status` event is built in one place.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Iterable
from itertools import pairwise
from typing import Any, TypeVar

from ..errors import ConflictError
from ..events.catalog import CatalogEvent, MissionStatusChanged, TaskTransition
from ..spec import MissionRecord, MissionStatus, TaskRecord, TaskStatus, utcnow
from ..spec.status import TERMINAL_MISSION_STATES
from ..store.journal import Emit, Journal, WriteFn
from ..store.sqlite import Tx
from .ownership import NO_OWNER, lease_deadline
from .run import Run
from .states import check_transition, entering

T = TypeVar("T")
#: A task update inside a journal write: (tx, emit, the current copy) -> the new copy.
TaskWrite = Callable[[Tx, Emit, TaskRecord], TaskRecord]


def put_task(tx: Tx, emit: Emit, task: TaskRecord, status: TaskStatus | None = None, *, via: TaskStatus | None = None,
             reason: str | None = None, agent: str | None = None, **changes: Any) -> TaskRecord:
    """Persist a task (with an optional checked transition, through `via` first if given) and emit
    `task:transition` for each step. (A few per task run: `changes` is this call's own keyword dict, so
    it is completed in place; a task moved through `via` is copied once, not once per step.)"""
    previous = task.status
    moved = status if status is not None and status != previous else None
    steps: tuple[TaskStatus, ...] = ()
    if moved is not None:
        steps = (previous, moved) if via is None else (previous, via, moved)
        for before, after in pairwise(steps):
            check_transition(task.id, before, after)
            changes.update(entering(after, changes.get("result", task.result)))
        changes["status"] = moved
    changes["updated_at"] = tx.now
    new = task.evolve(**changes)
    tx.put_task(new)
    for before, after in pairwise(steps):
        emit(_transition(task, before, after, agent, reason))
    return new


def put_made(tx: Tx, emit: Emit, task: TaskRecord, previous: TaskStatus, *, reason: str | None = None) -> TaskRecord:
    """Persist a record made directly in its status, whose copy in `previous` was never stored (a task
    saved and started in one transaction: its draft is not built either), with the transition from
    `previous` checked and its `task:transition`, as `put_task` from that copy would."""
    check_transition(task.id, previous, task.status)
    entered = entering(task.status, task.result)
    if entered:
        task = task.evolve(**entered)
    tx.put_task(task)
    emit(_transition(task, previous, task.status, None, reason))
    return task


def _transition(task: TaskRecord, before: TaskStatus, after: TaskStatus, agent: str | None,
                reason: str | None) -> TaskTransition:
    """The `task:transition` of `task` moving `before` -> `after` (by `agent`, else its own)."""
    return TaskTransition(task_id=task.id, mission_id=task.mission_id, title=task.title, from_=before._value_,
                          to=after._value_, agent_name=agent or task.assign_to, reason=reason or None)


def end_running_attempts(tx: Tx, task_ids: Collection[str], outcome: str) -> None:
    """Record every running attempt of these tasks as ended with `outcome` (killed, crashed,
    interrupted): their agents will not report."""
    for attempt in tx.running_attempts():
        if attempt.task_id in task_ids:
            tx.finish_attempt(attempt.task_id, attempt.number, outcome, None)


def chain(*steps: TaskWrite) -> TaskWrite:
    """Several task updates as one journal write (one transaction)."""
    def chained(tx: Tx, emit: Emit, task: TaskRecord) -> TaskRecord:
        for step in steps:
            task = step(tx, emit, task)
        return task
    return chained


class RunTakenOver(ConflictError):
    """A run this engine holds names another owner in its row: this process stalled past its lease (a
    Ctrl-Z, a sleep, a loop held by a blocking call), looked dead, and another took the run over. Nothing
    of this run is written here any more; the engine lets it go (`Dispatcher.abandon`)."""

    def __init__(self, run: Run, holder: str | None) -> None:
        name = run.mission.name if run.mission else run.key
        super().__init__(f"Mission {name!r} is run by another process now ({holder or 'none'}): this one stalled "
                         "past its lease, looked dead, and its run was taken over")
        self.run = run
        self.holder = holder


class Writes:
    def __init__(self, journal: Journal, owner: str, runs: dict[str, Run]) -> None:
        self.journal = journal
        self.owner = owner
        self._runs = runs  # the runs this engine holds: their writes are fenced

    def fenced(self, run: Run, fn: WriteFn[T]) -> WriteFn[T]:
        """`fn`, refused (RunTakenOver) when `run` is one this engine holds and its row names another
        owner: once a run is taken over, the old owner writes none of it (its attempts' results, the
        tasks it would start). One read of the row per transaction (`Tx.run_holder`)."""
        def write(tx: Tx, emit: Emit) -> T:
            if run.mission is not None and self._runs.get(run.key) is run:
                holder = tx.run_holder(run.mission.id)
                if holder != self.owner:
                    raise RunTakenOver(run, holder)
            return fn(tx, emit)
        return write

    async def update(self, run: Run, task_id: str, fn: TaskWrite) -> TaskRecord:
        """Apply `fn` to the run's current copy of a task in one journal write; keep the copy in sync."""
        return await self.queue(run, task_id, fn)

    def queue(self, run: Run, task_id: str, fn: TaskWrite, *,
              after: Collection[asyncio.Future[Any]] = ()) -> asyncio.Future[TaskRecord]:
        """`update`, queued now and awaited later (or never): the run's copy is replaced once the write
        commits, before whoever awaits it (or any write committed after it) resumes, even if its waiter
        gave up meanwhile. `after`: see `Journal.write`."""
        def write(tx: Tx, emit: Emit) -> TaskRecord:
            return fn(tx, emit, run.tasks[task_id])

        def stored(task: TaskRecord) -> None:
            run.tasks[task_id] = task
        return self.journal.write(self.fenced(run, write), after=after, stored=stored)

    async def set_mission(self, run: Run, status: MissionStatus, *, extra: Iterable[CatalogEvent] = (),
                          **changes: Any) -> None:
        """The mission's new status (+ `mission:status`, then `extra`) and the run row, in one write: an
        ended run keeps its flags, unowned, for a later resume. A run leaving `active` (a pause, its end)
        stops being active at once, not when the write commits: no task starts, and no other hold pauses
        it again, in between."""
        write = self.mission_change(run, status, extra=extra, **changes)
        if status != MissionStatus.ACTIVE:  # (making it active is how a run is claimed: resume, re-run)
            write = self.fenced(run, write)
            run.leaving = status

        def stored(updated: MissionRecord) -> None:
            run.mission = updated
        try:
            await self.journal.write(write, stored=stored)
        finally:
            if run.leaving == status:  # stored: `run.mission` says it; not stored: the run is as it was
                run.leaving = None

    def mission_change(self, run: Run, status: MissionStatus, *, extra: Iterable[CatalogEvent] = (),
                       **changes: Any) -> WriteFn[MissionRecord]:
        """`set_mission`'s write, for a command that changes tasks and its mission's status in one
        transaction (a re-run); it returns the mission it stored, which the caller makes `run.mission`
        once committed. The status and `changes` are applied to the mission as stored, not to the run's
        copy: an edit made meanwhile (by another process: its prompt, schedule, budget, `nextRunAt`) is
        kept, never written over with the copy the run started with."""
        assert run.mission is not None
        mission_id = run.mission.id

        def write(tx: Tx, emit: Emit) -> MissionRecord:
            mission = tx.mission(mission_id, with_tasks=False)
            previous = mission.status
            updated = mission.model_copy(update={"status": status, "updated_at": utcnow(), **changes})
            tx.put_mission(updated)
            if status != previous:
                emit(MissionStatusChanged(
                    mission_id=mission.id, name=mission.name, from_=previous.value, to=status.value, status=status.value,
                    pause_reason=changes.get("pause_reason") or None, pause_message=changes.get("pause_message") or None,
                    error=changes.get("error") or None))
            for event in extra:
                emit(event)
            ended = status in TERMINAL_MISSION_STATES
            tx.put_run(mission.id, NO_OWNER if ended else self.owner, 0.0 if ended else lease_deadline(),
                       run.flags.to_json())
            return updated
        return write

    async def save_flags(self, run: Run) -> None:
        if run.mission:
            mid, owner, flags = run.mission.id, self.owner, run.flags.to_json()
            await self.journal.write(lambda tx, emit: tx.put_run(mid, owner, lease_deadline(), flags))
