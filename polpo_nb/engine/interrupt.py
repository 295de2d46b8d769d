"""Stopping a process that runs missions: its user pressed Ctrl-C, or it got SIGTERM.

An interrupt is not an abort: the work done stays, the work in flight is given back. `interrupt_run`
cancels the run's attempts (each recorded `interrupted`), puts their tasks back to `pending` without
burning a retry, pauses the mission with `pauseReason: "interrupted"` and releases the run, so that
`resume` continues it from this process or any other, at once.

`release_leases` is the emergency brake (a second Ctrl-C): on a connection of its own, from any thread,
even while the engine is stuck, it expires every lease the owner holds, so another process may take the
runs over without waiting for them to lapse; the caller then exits.
"""

from __future__ import annotations

from pathlib import Path

from ..spec import MissionStatus, TaskRecord, TaskStatus
from ..spec.status import RUNNING_TASK_STATES
from ..store.journal import Emit
from ..store.sqlite import Store, Tx
from .ownership import NO_OWNER, release_owner
from .run import Run
from .writes import Writes, end_running_attempts, put_task

PAUSE_REASON = "interrupted"
PAUSE_MESSAGE = "The process running it was interrupted"


async def interrupt_run(run: Run, writes: Writes) -> None:
    """Cancel what `run` is doing and leave it paused and unowned (the engine forgets it afterwards).

    It writes through the engine's own writers, so every transition goes through the state table and
    every event has the usual shape."""
    journal = writes.journal
    for handle in [run.deadline_watch, *run.delay_timers.values()]:
        if handle is not None:
            handle.cancel()
    run.delay_timers.clear()
    await run.wind_down()

    def give_back(tx: Tx, emit: Emit) -> list[TaskRecord]:
        end_running_attempts(tx, run.tasks, PAUSE_REASON)
        return [put_task(tx, emit, t, TaskStatus.PENDING, reason="the run was interrupted", phase=None)
                for t in run.tasks.values() if t.status in RUNNING_TASK_STATES]
    for new in await journal.write(writes.fenced(run, give_back)):
        run.tasks[new.id] = new
    if run.mission is not None:
        if run.status == MissionStatus.ACTIVE:
            await writes.set_mission(run, MissionStatus.PAUSED, pause_reason=PAUSE_REASON, pause_message=PAUSE_MESSAGE)
        mission_id, flags = run.mission.id, run.flags.to_json()
        await journal.write(writes.fenced(run, lambda tx, emit: tx.put_run(mission_id, NO_OWNER, 0.0, flags)))
    run.idle.set()  # waiters in this process read the paused mission


def release_leases(db_path: Path, owner: str) -> None:
    """Expire every lease `owner` holds, now, from any thread (see the module docstring)."""
    release_owner(owner)
    store = Store(db_path)
    try:
        with store.write() as tx:
            tx.renew_leases(owner, 0.0)
    finally:
        store.close()

