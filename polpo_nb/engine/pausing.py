"""Acting on the holds of `holds.py`: gate and checkpoint events and pauses, delay and deadline timers.

The decisions are `holds.py`'s pure functions; this room writes their consequences (a passed gate's
event, a mission paused at a gate or a checkpoint, a delay's clock in the run's flags) and keeps the
timers. When a timer fires it hands the run back to the dispatcher through the callbacks it was built
with: `release` (a delay elapsed: parked tasks may start), `expire` (the deadline passed), and `halt`
(what the timer wrote was refused by the store: the run stops, as a job's refused write stops it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from ..errors import StoreWriteError
from ..events.catalog import (
    CheckpointApprovalRequested,
    CheckpointWaiting,
    DelayElapsed,
    DelayStarted,
    GateBlocked,
    GatePassed,
)
from ..spec import Delay, MissionStatus
from ..store.journal import Journal
from .holds import checkpoint_step, delay_due, delay_remaining, gate_step, seconds_to_deadline
from .run import Run
from .writes import Writes

RunCallback = Callable[[Run], Awaitable[None]]


class Pauses:
    def __init__(self, journal: Journal, writes: Writes, runs: dict[str, Run], *, release: RunCallback,
                 expire: RunCallback, halt: Callable[[Run, StoreWriteError], None]) -> None:
        self.journal = journal
        self.writes = writes
        self._runs = runs
        self._release = release
        self._expire = expire
        self._halt = halt

    async def check_gates(self, run: Run) -> None:
        """Announce the gates that opened; pause the mission at one that can no longer open."""
        if run.mission is None:
            return
        for i, gate in enumerate(run.mission.quality_gates):
            step = gate_step(run, i)
            name = gate.name or f"gate-{i}"
            if step == "pass":
                run.flags.passed_gates.append(i)
                await self.journal.emit(GatePassed(mission_id=run.mission.id, gate=name, after_tasks=gate.after_tasks,
                                                   blocks_tasks=gate.blocks_tasks))
            elif step == "block":
                run.flags.blocked_gate = i
                await self.writes.set_mission(
                    run, MissionStatus.PAUSED, pause_reason="gate",
                    pause_message=f"Quality gate {name!r} cannot be met: "
                                  f"{', '.join(gate.after_tasks)} below the minimum score or failed",
                    extra=[GateBlocked(mission_id=run.mission.id, name=run.mission.name, gate=name,
                                       after_tasks=gate.after_tasks, blocks_tasks=gate.blocks_tasks)])

    async def check_checkpoints(self, run: Run) -> None:
        """Pause the mission at the first checkpoint reached with work left to hold back."""
        if run.mission is None or not run.active:
            return
        for cp in run.mission.checkpoints:
            step = checkpoint_step(run, cp)
            if step == "not_reached":
                continue
            if step == "pass":
                run.flags.passed_checkpoints.append(cp.name)  # nothing left to hold back
                continue
            run.flags.waiting_checkpoint = cp.name
            mission = run.mission
            await self.writes.set_mission(
                run, MissionStatus.PAUSED, pause_reason="checkpoint",
                pause_message=cp.message or f"Checkpoint {cp.name!r} reached",
                extra=[CheckpointWaiting(mission_id=mission.id, name=mission.name, checkpoint=cp.name,
                                         message=cp.message, after_tasks=cp.after_tasks),
                       CheckpointApprovalRequested(mission_id=mission.id, name=mission.name, checkpoint=cp.name,
                                                   message=cp.message, after_tasks=cp.after_tasks)])
            return

    async def check_delays(self, run: Run) -> None:
        """Start the clock of every delay whose afterTasks are now all done."""
        if run.mission is None:
            return
        started = False
        for delay in run.mission.delays:
            if delay_due(run, delay):
                run.flags.delays_started[delay.name] = time.time()
                started = True
                await self.journal.emit(DelayStarted(mission_id=run.mission.id, delay=delay.name,
                                                     duration=delay.duration, blocks_tasks=delay.blocks_tasks))
                self.arm_delay(run, delay)
        if started:
            await self.writes.save_flags(run)

    def arm_delay(self, run: Run, delay: Delay) -> None:
        """A timer for a started delay (one per delay): a delay started before a pause or a crash goes on
        counting from when it started."""
        remaining = delay_remaining(run, delay, time.time())
        if remaining is None or delay.name in run.delay_timers:
            return

        def elapsed() -> None:
            task = asyncio.ensure_future(self._delay_elapsed(run, delay))
            run.delay_timers[delay.name] = task  # keep a strong reference until it has run

        run.delay_timers[delay.name] = asyncio.get_running_loop().call_later(remaining, elapsed)

    async def _delay_elapsed(self, run: Run, delay: Delay) -> None:
        run.delay_timers.pop(delay.name, None)
        if run.key not in self._runs:
            return
        assert run.mission is not None
        try:
            await self.journal.emit(DelayElapsed(mission_id=run.mission.id, delay=delay.name,
                                                 blocks_tasks=delay.blocks_tasks))
            await self._release(run)
        except StoreWriteError as exc:
            self._halt(run, exc)

    def watch_deadline(self, run: Run) -> None:
        """Fail the run when its mission's deadline passes (nothing to watch without one); a watch
        already set (a deadline edited) is replaced."""
        watch_before = run.deadline_watch
        if watch_before is not None and watch_before is not asyncio.current_task():
            watch_before.cancel()
        run.deadline_watch = None
        seconds = seconds_to_deadline(run, datetime.now(UTC))
        if seconds is None:
            return

        async def watch() -> None:
            await asyncio.sleep(seconds)
            try:
                await self._expire(run)
            except StoreWriteError as exc:
                self._halt(run, exc)
        run.deadline_watch = asyncio.create_task(watch(), name=f"polpo-deadline-{run.key}")
