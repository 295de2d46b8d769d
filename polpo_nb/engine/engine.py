"""The orchestrator: runs missions and standalone tasks on one asyncio loop.

Everything here happens on the engine's loop. State changes go through the journal (durable before
their events are published); scheduling uses per-task counters of unmet dependencies so a 2,000-task
mission costs O(edges), not O(n²). Agents run through the executor; assessment through `assess`.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import time
import traceback
from collections.abc import Iterable
from typing import Any

from ..assess import AssessmentConfigError, assess
from ..errors import ConflictError, NotFoundError
from ..events.catalog import (
    AssessmentStarted,
    CatalogEvent,
    CheckpointApprovalResolved,
    CheckpointResumed,
    MissionAborted,
    MissionCompleted,
    MissionExecuted,
    MissionResumed,
    TaskApprovalResolved,
    TaskRetry,
)
from ..events.model import Event
from ..spec import (
    Assessment,
    MissionRecord,
    MissionStatus,
    Phase,
    TaskRecord,
    TaskResult,
    TaskStatus,
    utcnow,
)
from ..store.journal import Emit
from ..store.sqlite import Tx
from .attempts import Attempts, completed_event
from .deps import EngineDeps
from .holds import holds_allow
from .interrupt import interrupt_run
from .leases import Leases
from .pausing import Pauses
from .run import Run
from .states import ABORTED_PREFIX, SKIPPED_PREFIX, check_command
from .writes import Writes, put_task

S = TaskStatus


class Engine:
    def __init__(self, deps: EngineDeps) -> None:
        self.d = deps
        self.writes = Writes(deps.journal, deps.owner)
        self.runs: dict[str, Run] = {}
        self.pauses = Pauses(deps.journal, self.writes, self.runs, release=self._release_parked,
                             expire=self._deadline_passed)
        self._ready: list[tuple[float, int, str, str]] = []
        self._running = 0
        self.attempts = Attempts(deps, self.writes)
        self.leases = Leases(deps.store, deps.journal, deps.owner, self.runs)

    # == lifecycle =====================================================================================

    async def start(self) -> None:
        await self.leases.start()

    async def close(self) -> None:
        self.leases.stop()
        jobs = [j for run in self.runs.values() for j in run.jobs.values()]
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)

    def run_owner(self, mission_id: str) -> tuple[str, bool] | None:
        """(owner, alive) of a mission's run row, or None when no process claims it."""
        return self.leases.run_owner(mission_id)

    # == starting runs =================================================================================

    async def execute_mission(self, mission_id: str) -> Run:
        with self.d.store.read() as tx:
            mission = tx.mission(mission_id)
        self._refuse_if_running(mission)
        if not mission.tasks:
            raise ConflictError(f"Mission {mission.name!r} has no tasks to execute")
        run = Run(mission, mission.tasks)
        for task in mission.tasks:  # fail fast, before anything is written
            self.d.resolve_agent(task.assign_to, run)

        def start(tx: Tx, emit: Emit) -> list[TaskRecord]:
            tasks = [self._restart(tx, emit, t) for t in mission.tasks]
            if mission.team:
                for agent in mission.team.agents:
                    tx.put_agent(agent, mission.id if mission.team.volatile else None)
            return tasks
        tasks = await self.d.journal.write(start)
        run = Run(mission, tasks)
        self.runs[run.key] = run
        await self.writes.set_mission(
            run, MissionStatus.ACTIVE, execution_count=mission.execution_count + 1, pause_reason=None,
            pause_message=None, error=None,
            extra=[MissionExecuted(mission_id=mission.id, name=mission.name, execution_count=mission.execution_count + 1,
                                   task_count=len(tasks))],
        )
        self.pauses.watch_deadline(run)
        self._enqueue_ready(run, run.tasks)
        self._dispatch()
        self._check_settled(run)
        return run

    def _restart(self, tx: Tx, emit: Emit, task: TaskRecord) -> TaskRecord:
        """A new execution starts a task afresh: results of the previous one stay in its attempts."""
        check_command(task.id, "execute", task.status)
        return put_task(tx, emit, task, S.PENDING, reason="execution started", phase=None, retries=0, result=None,
                         assessment=None, feedback=None)

    def _refuse_if_running(self, mission: MissionRecord) -> None:
        if mission.status in (MissionStatus.ACTIVE, MissionStatus.PAUSED):
            owner = self.leases.run_owner(mission.id)
            alive = owner is not None and owner[1]
            hint = "resume or abort it" if mission.status == MissionStatus.PAUSED or not alive else "abort it first"
            raise ConflictError(f"Mission {mission.name!r} is already {mission.status.value}; {hint}")

    async def execute_task(self, task_id: str) -> Run:
        """Run one task on its own (standalone, or a mission task while its mission is not running)."""
        with self.d.store.read() as tx:
            task = tx.task(task_id)
            mission = tx.mission(task.mission_id, with_tasks=False) if task.mission_id else None
        if mission and mission.status in (MissionStatus.ACTIVE, MissionStatus.PAUSED):
            raise ConflictError(f"Task {task_id} belongs to mission {mission.name!r}, which is {mission.status.value}")
        key = f"task:{task_id}"
        if key in self.runs:
            raise ConflictError(f"Task {task_id} is already executing")
        threshold = mission.quality_threshold if mission else self.d.config.quality_threshold
        probe = Run(None, [task], threshold=threshold)
        self.d.resolve_agent(task.assign_to, probe)
        fresh = await self.d.journal.write(lambda tx, emit: self._restart(tx, emit, tx.task(task_id)))
        run = Run(None, [fresh], threshold=threshold, context=mission)  # alone: its dependencies are not in the run
        self.runs[run.key] = run
        self._enqueue_ready(run, [task_id])
        self._dispatch()
        return run

    # == scheduling ====================================================================================

    def _enqueue_ready(self, run: Run, task_ids: Iterable[str]) -> None:
        if run.stopping:
            return
        for tid in task_ids:
            task = run.tasks.get(tid)
            if task is None or task.status != S.PENDING or run.unmet.get(tid, 0) or tid in run.jobs or tid in run.queued:
                continue
            if not holds_allow(run, task, time.time()):
                run.parked.add(tid)
                continue
            run.parked.discard(tid)
            run.queued.add(tid)
            heapq.heappush(self._ready, (-float(task.priority), task.seq, tid, run.key))

    def _dispatch(self) -> None:
        limit = self.d.config.max_concurrency
        while self._ready and self._running < limit:
            _, _, tid, key = heapq.heappop(self._ready)
            run = self.runs.get(key)
            if run is None or tid not in run.queued:
                continue
            run.queued.discard(tid)
            task = run.tasks.get(tid)
            if task is None or task.status != S.PENDING:
                continue
            if not run.active:
                run.deferred.append(tid)
                continue
            self._running += 1
            run.idle.clear()
            run.jobs[tid] = asyncio.create_task(self._job(run, tid), name=f"polpo-task-{tid}")

    async def _job(self, run: Run, tid: str) -> None:
        try:
            await self.attempts.drive(run, tid)
            await self._after_task(run, tid)
        except asyncio.CancelledError:
            return  # killed/aborted: the canceller writes the outcome
        except Exception:  # noqa: BLE001 - an engine bug must not stall the mission
            await self._fail_task(run, tid, traceback.format_exc(), reason="engine error")
        finally:
            self._running -= 1
            run.jobs.pop(tid, None)
            self._dispatch()
        await self._check_finished(run)  # the last job of a run closes it

    async def _fail_task(self, run: Run, tid: str, error: str, *, reason: str) -> None:
        await self.attempts.fail(run, tid, error, reason=reason)
        await self._after_task(run, tid)

    # == after a task settles: dependents, gates, checkpoints, completion ===============================

    async def _after_task(self, run: Run, tid: str) -> None:
        task = run.tasks.get(tid)
        if task is None:
            return
        if task.status == S.DONE:
            released = []
            for child in run.dependents.get(tid, []):
                run.unmet[child] -= 1
                if run.unmet[child] == 0:
                    released.append(child)
            await self.pauses.check_gates(run)
            await self.pauses.check_delays(run)
            self._enqueue_ready(run, [*released, *list(run.parked)])
            await self.pauses.check_checkpoints(run)
        elif task.status == S.FAILED:
            await self._skip_dependents(run, task)
            await self.pauses.check_gates(run)
        self._dispatch()
        await self._check_finished(run)

    async def _skip_dependents(self, run: Run, failed: TaskRecord) -> None:
        doomed: list[str] = []
        frontier = [failed.id]
        while frontier:
            for child in run.dependents.get(frontier.pop(), []):
                if child not in doomed and run.tasks[child].status == S.PENDING:
                    doomed.append(child)
                    frontier.append(child)
        if not doomed:
            return
        message = f"{SKIPPED_PREFIX} dependency {failed.title!r} failed"

        def skip(tx: Tx, emit: Emit) -> list[TaskRecord]:
            return [put_task(tx, emit, run.tasks[c], S.FAILED, reason=message,
                              result=TaskResult(error=message)) for c in doomed]
        for new in await self.d.journal.write(skip):
            run.tasks[new.id] = new
            run.queued.discard(new.id)
            run.parked.discard(new.id)

    async def _release_parked(self, run: Run) -> None:
        """A hold lifted (a delay elapsed): parked tasks may start."""
        self._enqueue_ready(run, list(run.parked))
        self._dispatch()
        await self._check_finished(run)

    async def _deadline_passed(self, run: Run) -> None:
        await self._stop(run, MissionStatus.FAILED, error="deadline", reason="mission deadline passed")

    async def _check_finished(self, run: Run) -> None:
        if run.jobs or any(t in run.queued for t in run.tasks):
            return
        if run.all_terminal():
            await self._finish(run)
        self._check_settled(run)

    def _check_settled(self, run: Run) -> None:
        """Idle = nothing running, startable or on a timer: finished, paused, or waiting for a human."""
        if not run.jobs and not run.queued and not run.delay_timers:
            run.idle.set()

    async def _finish(self, run: Run) -> None:
        ok = all(t.status == S.DONE for t in run.tasks.values())
        failed = [t.title for t in run.tasks.values() if t.status == S.FAILED]
        await self._close_run(run, MissionStatus.COMPLETED if ok else MissionStatus.FAILED,
                              error=None if ok else f"failed tasks: {', '.join(failed)}")

    async def _close_run(self, run: Run, status: MissionStatus, *, error: str | None,
                         extra: Iterable[CatalogEvent] = ()) -> None:
        """The one way a run ends: mission status + `mission:completed`, volatile team released. The run
        leaves `self.runs` only once the final status is committed, so no waiter reads a stale one."""
        if run.deadline_watch and run.deadline_watch is not asyncio.current_task():
            run.deadline_watch.cancel()
        for timer in run.delay_timers.values():
            timer.cancel()
        run.delay_timers.clear()
        if run.mission is not None:
            mission = run.mission
            await self.writes.set_mission(run, status, error=error, pause_reason=None, pause_message=None,
                                    extra=[*extra, MissionCompleted(mission_id=mission.id, name=mission.name,
                                                                    status=status.value, error=error or None)])
            if mission.team and mission.team.volatile:
                await self.d.journal.write(lambda tx, emit: tx.delete_mission_agents(mission.id))
        self.runs.pop(run.key, None)
        run.finished.set()
        run.idle.set()

    # == human and API commands ========================================================================

    def _run_of(self, task_id: str) -> Run | None:
        return next((r for r in self.runs.values() if task_id in r.tasks), None)

    async def interrupt(self, mission_id: str) -> None:
        """Pause a run of this engine because its process is stopping (Ctrl-C, SIGTERM): interrupt.py."""
        run = self.runs.get(mission_id)
        if run is None:
            raise ConflictError(f"Mission {mission_id} is not run by this process")
        await interrupt_run(run, self.d.journal, put=put_task, set_mission=self.writes.set_mission)
        self.runs.pop(mission_id, None)

    async def abort(self, mission_id: str) -> None:
        run = self.runs.get(mission_id)
        if run is None:
            with self.d.store.read() as tx:
                mission = tx.mission(mission_id)
            if mission.status not in (MissionStatus.ACTIVE, MissionStatus.PAUSED):
                raise ConflictError(f"Mission {mission.name!r} is {mission.status.value}, not running")
            self.leases.refuse_foreign(mission)
            run = Run(mission, mission.tasks, flags=self.leases.flags(mission.id))
        assert run.mission is not None
        await self._stop(run, MissionStatus.CANCELLED, error="aborted", reason="mission aborted",
                         extra=[MissionAborted(mission_id=run.mission.id, name=run.mission.name,
                                               status=MissionStatus.CANCELLED.value)])

    async def _stop(self, run: Run, status: MissionStatus, *, error: str, reason: str,
                    extra: Iterable[CatalogEvent] = ()) -> None:
        """Cancel what runs, fail what has not finished (abort, deadline), close the run."""
        run.stopping = True  # nothing new starts while the jobs wind down
        run.queued.clear()
        jobs = list(run.jobs.values())
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)

        def stop(tx: Tx, emit: Emit) -> list[TaskRecord]:
            out = []
            for attempt in tx.running_attempts():
                if attempt.task_id in run.tasks:
                    tx.finish_attempt(attempt.task_id, attempt.number, "killed", None)
            for t in run.tasks.values():
                if t.status in (S.DONE, S.FAILED, S.DRAFT):
                    continue
                result = (t.result or TaskResult()).model_copy(update={"error": f"{ABORTED_PREFIX} {reason}"})
                out.append(put_task(tx, emit, t, S.FAILED, reason=reason, result=result, phase=None))
            return out
        for new in await self.d.journal.write(stop):
            run.tasks[new.id] = new
        await self._close_run(run, status, error=error, extra=extra)

    async def resume(self, mission_id: str, *, retry_failed: bool = False) -> Run:
        with self.d.store.read() as tx:
            mission = tx.mission(mission_id)
        run = self.runs.get(mission.id)
        if run is None:
            if mission.status not in (MissionStatus.PAUSED, MissionStatus.ACTIVE, MissionStatus.FAILED):
                raise ConflictError(f"Mission {mission.name!r} is {mission.status.value}; only paused, failed or "
                                    "interrupted missions can be resumed")
            if mission.status == MissionStatus.FAILED and not retry_failed:
                raise ConflictError(f"Mission {mission.name!r} failed; resume it with retryFailed to retry its failed tasks")
            self.leases.refuse_foreign(mission)
            run = Run(mission, mission.tasks, flags=self.leases.flags(mission.id))
            self.runs[run.key] = run
            await self.leases.take_over(run)
            self.pauses.watch_deadline(run)
        elif run.status != MissionStatus.PAUSED and not retry_failed:
            raise ConflictError(f"Mission {mission.name!r} is {run.status.value}, not paused")
        assert run.mission is not None
        extra: list[CatalogEvent] = []
        if run.flags.waiting_checkpoint:
            checkpoint, mission = run.flags.waiting_checkpoint, run.mission
            extra += [CheckpointResumed(mission_id=mission.id, name=mission.name, checkpoint=checkpoint),
                      CheckpointApprovalResolved(mission_id=mission.id, name=mission.name, checkpoint=checkpoint,
                                                 approved=True)]
            run.flags.passed_checkpoints.append(run.flags.waiting_checkpoint)
            run.flags.waiting_checkpoint = None
        if run.flags.blocked_gate is not None:
            if not retry_failed:
                run.flags.overridden_gates.append(run.flags.blocked_gate)
            run.flags.blocked_gate = None
        if retry_failed:
            await self._retry_failed(run)
        await self.writes.set_mission(run, MissionStatus.ACTIVE, pause_reason=None, pause_message=None, error=None,
                                extra=[MissionResumed(mission_id=run.mission.id, name=run.mission.name,
                                                      retry_failed=retry_failed), *extra])
        run.rebuild_counters()
        for delay in run.mission.delays if run.mission else []:
            self.pauses.arm_delay(run, delay)  # a delay started before a pause or a crash goes on counting
        pending = [t.id for t in run.tasks.values() if t.status == S.PENDING]
        deferred, run.deferred = run.deferred, []
        self._enqueue_ready(run, [*deferred, *pending])
        await self.pauses.check_checkpoints(run)
        self._dispatch()
        await self._check_finished(run)
        return run

    async def _retry_failed(self, run: Run) -> None:
        def retry(tx: Tx, emit: Emit) -> list[TaskRecord]:
            out = []
            for t in run.tasks.values():
                if t.status == S.FAILED:
                    skipped = bool(t.result and t.result.error and t.result.error.startswith(SKIPPED_PREFIX))
                    out.append(put_task(tx, emit, t, S.PENDING, reason="resume with retryFailed",
                                         retries=t.retries + (0 if skipped else 1), phase=None))
                    if not skipped:
                        emit(TaskRetry(task_id=t.id, mission_id=t.mission_id, retries=t.retries + 1,
                                       reason="resume with retryFailed"))
            return out
        for new in await self.d.journal.write(retry):
            run.tasks[new.id] = new

    async def kill(self, task_id: str) -> TaskRecord:
        run = self._run_of(task_id)
        if run is not None and task_id in run.jobs:
            job = run.jobs[task_id]
            job.cancel()
            await asyncio.gather(job, return_exceptions=True)
        with self.d.store.read() as tx:
            task = tx.task(task_id)
        check_command(task_id, "kill", task.status)
        if run is None:
            self.leases.refuse_task_foreign(task)
            run = Run(None, [task])
        run.queued.discard(task_id)
        await self._fail_task(run, task_id, "killed", reason="killed")
        return run.tasks[task_id]

    async def decide(self, task_id: str, approve: bool, note: str | None = None) -> TaskRecord:
        """Approve or reject a task awaiting approval (side effects)."""
        run = self._run_of(task_id)
        with self.d.store.read() as tx:
            task = tx.task(task_id)
        check_command(task_id, "approve" if approve else "reject", task.status)
        if run is None:
            self.leases.refuse_task_foreign(task)
            run = Run(None, [task])
        target = S.DONE if approve else S.FAILED

        def decide(tx: Tx, emit: Emit, t: TaskRecord) -> TaskRecord:
            changes: dict[str, Any] = {}
            if not approve:
                changes["result"] = (t.result or TaskResult()).model_copy(update={"error": f"rejected{': ' + note if note else ''}"})
            t = put_task(tx, emit, t, target, reason="approved" if approve else "rejected", **changes)
            emit(TaskApprovalResolved(task_id=t.id, mission_id=t.mission_id, approved=approve, note=note or None))
            if approve:
                emit(completed_event(t))
            return t
        run.tasks[task_id] = task
        new = await self.writes.update(run, task_id, decide)
        if run.key in self.runs:
            await self._after_task(run, task_id)
        return new

    async def retry(self, task_id: str) -> TaskRecord:
        """A failed task goes back to pending (retries + 1) with the dependents its failure skipped, and
        runs again: in its mission's run, by resuming a failed mission, or standalone."""
        with self.d.store.read() as tx:
            task = tx.task(task_id)
        check_command(task_id, "retry", task.status)
        run = self._run_of(task_id)
        if run is None and task.mission_id:
            with self.d.store.read() as tx:
                mission = tx.mission(task.mission_id)
            if mission.status in (MissionStatus.ACTIVE, MissionStatus.PAUSED):
                self.leases.refuse_foreign(mission)
            probe = Run(mission, mission.tasks)
        else:
            probe = run or Run(None, [task])
        revive = [task_id] + [d for d in self._skipped_descendants(probe, task_id)]

        def write(tx: Tx, emit: Emit) -> list[TaskRecord]:
            out = []
            for tid in revive:
                t = probe.tasks[tid]
                first = tid == task_id
                out.append(put_task(tx, emit, t, S.PENDING, reason="retry" if first else "dependency retried",
                                     retries=t.retries + (1 if first else 0), phase=None))
                if first:
                    emit(TaskRetry(task_id=tid, mission_id=t.mission_id, retries=t.retries + 1, reason="retry"))
            return out
        for new in await self.d.journal.write(write):
            probe.tasks[new.id] = new
        if run is not None:
            run.rebuild_counters()
            self._enqueue_ready(run, revive)
            self._dispatch()
        elif task.mission_id:
            mission_status = probe.mission.status if probe.mission else None
            if mission_status in (MissionStatus.FAILED, MissionStatus.CANCELLED, MissionStatus.COMPLETED):
                await self._reopen(probe)
        else:
            await self.execute_task_from_pending(task_id)
        with self.d.store.read() as tx:
            return tx.task(task_id)

    async def _reopen(self, probe: Run) -> None:
        assert probe.mission is not None
        run = Run(probe.mission, list(probe.tasks.values()), flags=self.leases.flags(probe.mission.id))
        self.runs[run.key] = run
        await self.writes.set_mission(run, MissionStatus.ACTIVE, error=None,
                                extra=[MissionResumed(mission_id=probe.mission.id, name=probe.mission.name, retry_failed=False)])
        self._enqueue_ready(run, [t.id for t in run.tasks.values() if t.status == S.PENDING])
        self._dispatch()
        await self._check_finished(run)

    async def execute_task_from_pending(self, task_id: str) -> Run:
        with self.d.store.read() as tx:
            task = tx.task(task_id)
        run = Run(None, [task], threshold=self.d.config.quality_threshold)
        self.runs[run.key] = run
        self._enqueue_ready(run, [task_id])
        self._dispatch()
        return run

    def _skipped_descendants(self, run: Run, task_id: str) -> list[str]:
        out: list[str] = []
        frontier = [task_id]
        while frontier:
            for child in run.dependents.get(frontier.pop(), []):
                t = run.tasks[child]
                if child not in out and t.status == S.FAILED and t.result and (t.result.error or "").startswith(SKIPPED_PREFIX):
                    out.append(child)
                    frontier.append(child)
        return out

    async def reassess(self, task_id: str) -> TaskRecord:
        """Assess the stored result again (after the expectations changed) without running the agent."""
        with self.d.store.read() as tx:
            task = tx.task(task_id)
            mission = tx.mission(task.mission_id, with_tasks=False) if task.mission_id else None
            attempts = tx.attempts(task_id)
        check_command(task_id, "reassess", task.status)
        if task.result is None or not attempts or attempts[-1].status != "completed":  # the agent never returned
            raise ConflictError(f"Task {task_id} has no result to assess: its agent raised, timed out, or never ran; "
                                "retry it instead")
        if self._run_of(task_id):
            raise ConflictError(f"Task {task_id} belongs to a running mission; reassess it once the mission settles")
        run = Run(None, [task])
        result = task.result

        def begin(tx: Tx, emit: Emit, t: TaskRecord) -> TaskRecord:
            t = put_task(tx, emit, t, S.REVIEW, reason="reassess", phase=Phase.REVIEW)
            emit(AssessmentStarted(task_id=t.id, mission_id=t.mission_id, reassess=True))
            return t
        await self.writes.update(run, task_id, begin)
        threshold = mission.quality_threshold if mission else self.d.config.quality_threshold
        try:
            assessment = await assess(task, result, project_dir=self.d.project_dir, threshold=threshold,
                                      judge=self.d.judge(task), command_timeout=self.d.config.command_timeout)
        except AssessmentConfigError as exc:
            assessment = Assessment(passed=False, feedback=exc.message, threshold=threshold, timestamp=utcnow())
        # the verdict of any review: a pass with side effects awaits approval again (a rejection stands until then)
        return await self.writes.update(run, task_id, functools.partial(Attempts.judged, None, assessment, False))

    def update_running_task(self, task: TaskRecord) -> None:
        """Keep a run's copy in step with a spec edit (priority, expectations, ...) of a pending task."""
        run = self._run_of(task.id)
        if run is not None:
            run.tasks[task.id] = task
            run.rebuild_counters()

    async def add_task_to_run(self, task: TaskRecord) -> None:
        """A task added to an active mission is scheduled at once (seed 004)."""
        if task.mission_id is None or task.mission_id not in self.runs:
            return
        run = self.runs[task.mission_id]
        run.add_task(task)
        new = await self.writes.update(run, task.id, lambda tx, emit, t: put_task(tx, emit, t, S.PENDING, reason="added to a running mission"))
        run.tasks[task.id] = new
        self._enqueue_ready(run, [task.id])
        self._dispatch()

    def remove_task_from_run(self, task_id: str) -> None:
        run = self._run_of(task_id)
        if run is not None:
            run.remove_task(task_id)
            run.queued.discard(task_id)



__all__ = ["Engine", "EngineDeps", "Event", "NotFoundError"]
