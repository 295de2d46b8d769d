"""Operator commands: what a human (or the API) asks of a run, a mission or a task.

Abort, resume, rerun (from a task: rerun.py), interrupt, kill, approve/reject, retry and reassess. Each
checks the command against the state table (`states.check_command`) and refuses a run another live
process owns (`ForeignRunError`, which the project routes to that process) before writing anything;
then it acts through the dispatcher, so a command's consequences (released dependents, the holds, the
run's end) are those of any settled task.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from ..assess import AssessmentConfigError, assess
from ..errors import ConflictError
from ..events.catalog import (
    AssessmentStarted,
    CatalogEvent,
    CheckpointApprovalResolved,
    CheckpointResumed,
    MissionAborted,
    MissionRerun,
    MissionResumed,
    TaskApprovalResolved,
    TaskRetry,
)
from ..spec import Assessment, MissionRecord, MissionStatus, Phase, TaskRecord, TaskResult, TaskStatus, utcnow
from ..spec.status import LIVE_MISSION_STATES
from ..store.journal import Emit
from ..store.sqlite import Tx
from ..usage.meter import Meter, metering
from .attempts import Attempts, completed_event
from .budget import refuse_resume_while_spent, with_judge_spend
from .deps import EngineDeps
from .dispatch import Dispatcher, outcome
from .interrupt import interrupt_run
from .leases import REQUEUED, REQUEUED_AFTER_HALT, Leases
from .rerun import find_task, refuse_unsettled, reopen_holds, rerun_tail, superseded
from .run import Run, RunFlags
from .states import SKIPPED_PREFIX, check_command
from .writes import Writes, put_task

S = TaskStatus
#: Missions `resume` accepts when this engine holds no run of them (failed: with retryFailed only).
RESUMABLE = LIVE_MISSION_STATES | {MissionStatus.FAILED}


class Controls:
    def __init__(self, deps: EngineDeps, runs: dict[str, Run], writes: Writes, leases: Leases,
                 dispatcher: Dispatcher) -> None:
        self.d = deps
        self.runs = runs
        self.writes = writes
        self.leases = leases
        self.dispatcher = dispatcher

    # == missions ======================================================================================

    async def interrupt(self, mission_id: str) -> None:
        """Pause a run of this engine because its process is stopping (Ctrl-C, SIGTERM): interrupt.py."""
        run = self.runs.get(mission_id)
        if run is None:
            raise ConflictError(f"Mission {mission_id} is not run by this process")
        await interrupt_run(run, self.writes)
        self.runs.pop(mission_id, None)

    async def abort(self, mission_id: str) -> None:
        run = self.runs.get(mission_id)
        if run is None:
            with self.d.store.read() as tx:
                mission = tx.mission(mission_id)
            if mission.status not in LIVE_MISSION_STATES:
                raise ConflictError(f"Mission {mission.name!r} is {mission.status.value}, not running")
            self.leases.refuse_foreign(mission)
            run = Run(mission, mission.tasks, flags=self.leases.flags(mission.id))
        assert run.mission is not None
        await self.dispatcher.stop(run, MissionStatus.CANCELLED, error="aborted", reason="mission aborted",
                                   extra=[MissionAborted(mission_id=run.mission.id, name=run.mission.name,
                                                         status=MissionStatus.CANCELLED.value)])

    async def resume(self, mission_id: str, *, retry_failed: bool = False) -> Run:
        with self.d.store.read() as tx:
            mission = tx.mission(mission_id)
        run = self.runs.get(mission.id)
        pauses = self.dispatcher.pauses
        if run is None:
            if mission.status not in RESUMABLE:
                raise ConflictError(f"Mission {mission.name!r} is {mission.status.value}; only paused, failed or "
                                    "interrupted missions can be resumed")
            if mission.status == MissionStatus.FAILED and not retry_failed:
                raise ConflictError(f"Mission {mission.name!r} failed; resume it with retryFailed to retry its failed tasks")
            self.leases.refuse_foreign(mission)
            # before anything is taken over: a process that cannot play its agents (a function of the
            # process that died) is refused, as `execute` is, and the run stays resumable where they are
            self.dispatcher.check_playable(mission.id)
            run = Run.taken_up(mission, mission.tasks, self.leases.flags(mission.id))
            refuse_resume_while_spent(run, self.d.store)
            self.runs[run.key] = run
            await self.leases.take_over(run, REQUEUED_AFTER_HALT if run.key in self.dispatcher.halted else REQUEUED)
            self.dispatcher.halted.pop(run.key, None)
            pauses.watch_deadline(run)
        elif run.status != MissionStatus.PAUSED and not retry_failed:
            raise ConflictError(f"Mission {mission.name!r} is {run.status.value}, not paused")
        else:  # as stored now: a budget or deadline another process changed while it was paused applies
            self.dispatcher.redefine(run, mission)
            refuse_resume_while_spent(run, self.d.store)
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
        return await self._go_on(run)

    async def _go_on(self, run: Run) -> Run:
        """A mission made active again (resume, rerun, a task of a settled mission retried) goes on:
        delays re-armed, its pending and deferred tasks queued, the gates and checkpoints they reach
        judged again (a gate still blocked, not overridden, pauses it again: its tasks would wait for
        ever), the run closed if nothing is left."""
        pauses = self.dispatcher.pauses
        run.rebuild_counters()
        for delay in run.mission.delays if run.mission else []:
            pauses.arm_delay(run, delay)
        pending = [t.id for t in run.tasks.values() if t.status == S.PENDING]
        deferred, run.deferred = run.deferred, []
        self.dispatcher.enqueue_ready(run, [*deferred, *pending])
        await pauses.check_gates(run)
        await pauses.check_checkpoints(run)
        self.dispatcher.dispatch()
        await self.dispatcher.check_finished(run)
        return run

    async def rerun(self, mission_id: str, from_task: str) -> Run:
        """Run a settled mission again from one of its tasks (id or title): that task and everything
        downstream of it go back to pending and re-execute (rerun.py says what is refused); the results
        upstream are reused, earlier attempts stay, the holds after the re-run tasks apply again. The
        tasks, the mission's status and `mission:rerun` are one write."""
        with self.d.store.read() as tx:
            mission = tx.mission(mission_id)
        start = find_task(mission, from_task)
        run = self.runs.get(mission.id)
        orphaned = False
        if run is None and mission.status == MissionStatus.ACTIVE:
            owner = self.leases.run_owner(mission.id)
            orphaned = owner is None or not owner[1]
        refuse_unsettled(mission, start.title, orphaned=orphaned)
        fresh = run is None
        if run is None:
            self.leases.refuse_foreign(mission)
            run = Run.taken_up(mission, mission.tasks, self.leases.flags(mission.id))
            await self.leases.take_over(run)  # paused by a process that died: its attempts in flight start over
        tail = rerun_tail(run, run.tasks[start.id])
        titles = [run.tasks[tid].title for tid in tail]
        flags_before = run.flags.to_json()
        reset_delays = reopen_holds(run, set(titles))
        assert run.mission is not None
        event = MissionRerun(mission_id=mission.id, name=mission.name, from_task=start.title, from_task_id=start.id,
                             tasks=titles)
        to_active = self.writes.mission_change(run, MissionStatus.ACTIVE, pause_reason=None, pause_message=None,
                                               error=None)
        reason = f"re-run from {start.title!r}"
        seen = (mission.status, mission.updated_at)

        def write(tx: Tx, emit: Emit) -> tuple[list[TaskRecord], MissionRecord]:
            # checked again in the write transaction (BEGIN IMMEDIATE: one writer across processes), so two
            # processes re-running the same settled mission at once cannot both start it; the time of the
            # mission's last change, not only its status: the other re-run may already have finished
            now = tx.mission(mission.id, with_tasks=False)
            if (now.status, now.updated_at) != seen:
                raise ConflictError(f"Mission {mission.name!r} was started by another process meanwhile: re-run "
                                    "it once it has finished")
            emit(event)
            tx.drop_steps(tail)  # afresh, even a task whose last attempt a crash ended after storing steps
            tasks = []
            for tid in tail:
                task = run.tasks[tid]
                if task.assessment is not None:  # its result stays in its last attempt; its verdict in that log
                    tx.log(f"{tid}-{tx.attempt_count(tid)}", superseded(task.assessment, start.title), level="info",
                           task_id=tid)
                tasks.append(put_task(tx, emit, task, S.PENDING, reason=reason, phase=None, retries=0, result=None,
                                      assessment=None, feedback=None))
            return tasks, to_active(tx, emit)
        try:
            written, run.mission = await self.d.journal.write(write)
        except ConflictError:
            run.flags = RunFlags.from_json(flags_before)  # a run held here stays as it was
            raise
        for new in written:
            run.tasks[new.id] = new
        for name in reset_delays:
            timer = run.delay_timers.pop(name, None)
            if timer is not None:
                timer.cancel()
        if fresh:
            self.runs[run.key] = run
            self.dispatcher.pauses.watch_deadline(run)
        return await self._go_on(run)

    async def _retry_failed(self, run: Run) -> None:
        def retry(tx: Tx, emit: Emit) -> list[TaskRecord]:
            out = []
            for t in run.tasks.values():
                if t.status == S.FAILED:
                    skipped = bool(t.result and t.result.error and t.result.error.startswith(SKIPPED_PREFIX))
                    out.append(put_task(tx, emit, t, S.PENDING, reason="resume with retryFailed",
                                        retries=t.retries + (0 if skipped else 1), phase=None,
                                        **({"result": None} if skipped else {})))  # (a skip's result is its message)
                    if not skipped:
                        emit(TaskRetry(task_id=t.id, mission_id=t.mission_id, retries=t.retries + 1,
                                       reason="resume with retryFailed"))
            return out
        for new in await self.d.journal.write(retry):
            run.tasks[new.id] = new

    # == tasks =========================================================================================

    async def kill(self, task_id: str) -> TaskRecord:
        run = self.dispatcher.run_of(task_id)
        if run is not None and task_id in run.settling:
            # its agent has finished and its dependents have started: too late to kill, it is done
            # once its verdict is stored (the check below then says so)
            await asyncio.gather(run.settling[task_id], return_exceptions=True)
        elif run is not None and task_id in run.jobs:
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
        await self.dispatcher.fail_task(run, task_id, "killed", reason="killed", attempt_status="killed")
        return run.tasks[task_id]

    async def decide(self, task_id: str, approve: bool, note: str | None = None) -> TaskRecord:
        """Approve or reject a task awaiting approval (side effects)."""
        run = self.dispatcher.run_of(task_id)
        with self.d.store.read() as tx:
            task = tx.task(task_id)
        check_command(task_id, "approve" if approve else "reject", task.status)
        if run is None:
            self.leases.refuse_task_foreign(task)
            mission = self._orphaned(task.mission_id)
            # its mission is active but no live process runs it (`polpo run` exited to wait for this very
            # decision): the run is taken over here first, so the decision moves it on
            run = await self.resume(mission.id) if mission is not None else Run(None, [task])
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
            await self.dispatcher.after_task(run, task_id)
        else:
            await self._follow_tasks(task.mission_id)
        return new

    def _orphaned(self, mission_id: str | None) -> MissionRecord | None:
        """The mission, when it is active and no process holds its run (after `refuse_foreign`: none
        live, and not this one)."""
        if mission_id is None or mission_id in self.runs:
            return None
        with self.d.store.read() as tx:
            mission = tx.mission(mission_id, with_tasks=False)
        return mission if mission.status == MissionStatus.ACTIVE else None

    async def retry(self, task_id: str) -> TaskRecord:
        """A failed task goes back to pending (retries + 1) with the dependents its failure skipped, and
        runs again: in its mission's run, by resuming a failed mission, or standalone."""
        with self.d.store.read() as tx:
            task = tx.task(task_id)
        check_command(task_id, "retry", task.status)
        run = self.dispatcher.run_of(task_id)
        if run is None and task.mission_id:
            with self.d.store.read() as tx:
                mission = tx.mission(task.mission_id)
            if mission.status in LIVE_MISSION_STATES:
                self.leases.refuse_foreign(mission)
            if self._orphaned(mission.id) is not None:  # taken over here, as for a decision: it runs the retry
                run = await self.resume(mission.id)
            probe = run or Run(mission, mission.tasks)
        else:
            probe = run or Run(None, [task])
        revive = [task_id, *_skipped_descendants(probe, task_id)]

        def write(tx: Tx, emit: Emit) -> list[TaskRecord]:
            tx.drop_steps(revive)  # a retry starts afresh, even after an attempt a crash ended with stored steps
            out = []
            for tid in revive:
                t = probe.tasks[tid]
                first = tid == task_id
                out.append(put_task(tx, emit, t, S.PENDING, reason="retry" if first else "dependency retried",
                                    retries=t.retries + (1 if first else 0), phase=None,
                                    **({} if first else {"result": None})))  # (a skip's result is its message)
                if first:
                    emit(TaskRetry(task_id=tid, mission_id=t.mission_id, retries=t.retries + 1, reason="retry"))
            return out
        for new in await self.d.journal.write(self.writes.fenced(probe, write)):
            probe.tasks[new.id] = new
        if run is not None:
            run.rebuild_counters()
            self.dispatcher.enqueue_ready(run, revive)
            self.dispatcher.dispatch()
        elif task.mission_id:
            mission_status = probe.mission.status if probe.mission else None
            if mission_status in (MissionStatus.FAILED, MissionStatus.CANCELLED, MissionStatus.COMPLETED):
                await self._reopen(probe)
        else:
            await self.dispatcher.run_pending(task_id)
        with self.d.store.read() as tx:
            return tx.task(task_id)

    async def _reopen(self, probe: Run) -> None:
        assert probe.mission is not None
        run = Run.taken_up(probe.mission, list(probe.tasks.values()), self.leases.flags(probe.mission.id))
        self.runs[run.key] = run
        await self.writes.set_mission(run, MissionStatus.ACTIVE, error=None,
                                      extra=[MissionResumed(mission_id=probe.mission.id, name=probe.mission.name,
                                                            retry_failed=False)])
        await self._go_on(run)

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
        held = self.dispatcher.run_of(task_id)
        if held is not None:
            raise ConflictError(f"Task {task_id} {_held_by(held)}")
        run = Run(None, [task])
        result = task.result

        def begin(tx: Tx, emit: Emit, t: TaskRecord) -> TaskRecord:
            t = put_task(tx, emit, t, S.REVIEW, reason="reassess", phase=Phase.REVIEW)
            emit(AssessmentStarted(task_id=t.id, mission_id=t.mission_id, reassess=True))
            return t
        await self.writes.update(run, task_id, begin)
        threshold = mission.quality_threshold if mission else self.d.config.quality_threshold
        judge = self.d.judge(task)
        meter = Meter(self.d.config.prices) if judge is not None else None
        try:
            with metering(meter):
                assessment = await assess(task, result, project_dir=self.d.project_dir, threshold=threshold,
                                          judge=judge, command_timeout=self.d.config.command_timeout)
        except AssessmentConfigError as exc:
            assessment = Assessment(passed=False, feedback=exc.message, threshold=threshold, timestamp=utcnow())
        # the verdict of any review: a pass with side effects awaits approval again (a rejection stands until then)
        judged = with_judge_spend(functools.partial(Attempts.judged, None, assessment, False), meter, task,
                                  mission.execution_count if mission else None, attempts[-1].number)
        new = await self.writes.update(run, task_id, judged)
        await self._follow_tasks(task.mission_id)
        return new

    async def _follow_tasks(self, mission_id: str | None) -> None:
        """A settled mission whose task changed after its run (a reassessment, a decision): its status follows
        its tasks, as at the end of a run (a completed mission with a failed task is failed, and can be
        resumed with retryFailed; a failed one whose tasks are all done now is completed). While a task
        awaits approval and none has failed, it stays as it is."""
        if mission_id is None or mission_id in self.runs:
            return
        with self.d.store.read() as tx:
            mission = tx.mission(mission_id)
        if mission.status not in (MissionStatus.COMPLETED, MissionStatus.FAILED):
            return
        settled = all(t.status in (S.DONE, S.FAILED) for t in mission.tasks)
        if not settled and not any(t.status == S.FAILED for t in mission.tasks):
            return
        status, error = outcome(mission.tasks)
        if (status, error) != (mission.status, mission.error):
            await self.writes.set_mission(Run(mission, mission.tasks, flags=self.leases.flags(mission.id)), status,
                                          error=error)


def _skipped_descendants(run: Run, task_id: str) -> list[str]:
    """The dependents a task's failure skipped, transitively (they run again when it is retried)."""
    out: list[str] = []
    frontier = [task_id]
    while frontier:
        for child in run.dependents.get(frontier.pop(), ()):
            t = run.tasks[child]
            if child not in out and t.status == S.FAILED and t.result and (t.result.error or "").startswith(SKIPPED_PREFIX):
                out.append(child)
                frontier.append(child)
    return out


def _held_by(run: Run) -> str:
    """Why a task of a mission this process holds cannot be reassessed now, and when it can."""
    mission = run.mission
    if mission is None:
        return "is running; reassess it once it has finished"
    if run.status == MissionStatus.PAUSED:
        why = f" ({mission.pause_reason})" if mission.pause_reason else ""
        return (f"belongs to mission {mission.name!r}, which is paused{why}: resume it, and reassess the task once "
                "the mission has finished")
    return f"belongs to mission {mission.name!r}, which is running: reassess it once the mission has finished"
