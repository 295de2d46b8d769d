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
from dataclasses import dataclass
from typing import Any

from ..agents.context import AgentContext
from ..agents.function import FunctionAgent, to_task_result
from ..assess import AssessmentConfigError, assess
from ..errors import ConflictError, NotFoundError
from ..events.catalog import (
    AgentCompleted,
    AgentSpawned,
    AssessmentCompleted,
    AssessmentStarted,
    CatalogEvent,
    CheckpointApprovalResolved,
    CheckpointResumed,
    MissionAborted,
    MissionCompleted,
    MissionExecuted,
    MissionResumed,
    TaskApprovalRequested,
    TaskApprovalResolved,
    TaskCompleted,
    TaskFix,
    TaskOutput,
    TaskRetry,
    TaskTimeout,
    TaskToolUse,
)
from ..events.model import Event
from ..spec import (
    Agent,
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
from .deps import EngineDeps
from .holds import holds_allow
from .interrupt import interrupt_run
from .leases import Leases
from .pausing import Pauses
from .run import Run
from .states import ABORTED_PREFIX, SKIPPED_PREFIX, check_command
from .writes import Writes, chain, put_task

S = TaskStatus


@dataclass(frozen=True)
class _Attempt:
    task: TaskRecord
    agent: Agent
    runtime: FunctionAgent
    model: str | None
    number: int
    phase: Phase


class Engine:
    def __init__(self, deps: EngineDeps) -> None:
        self.d = deps
        self.writes = Writes(deps.journal, deps.owner)
        self.runs: dict[str, Run] = {}
        self.pauses = Pauses(deps.journal, self.writes, self.runs, release=self._release_parked,
                             expire=self._deadline_passed)
        self._ready: list[tuple[float, int, str, str]] = []
        self._running = 0
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
            await self._drive(run, tid)
        except asyncio.CancelledError:
            return  # killed/aborted: the canceller writes the outcome
        except Exception:  # noqa: BLE001 - an engine bug must not stall the mission
            await self._fail_task(run, tid, traceback.format_exc(), reason="engine error")
        finally:
            self._running -= 1
            run.jobs.pop(tid, None)
            self._dispatch()
        await self._check_finished(run)  # the last job of a run closes it

    # == one task: execution, review, fix ==============================================================

    async def _drive(self, run: Run, tid: str) -> None:
        """Attempts until the task settles: execution, review, then fix or retry while the budget lasts."""
        failures = 0
        phase = Phase.EXECUTION
        while True:
            attempt = await self._begin_attempt(run, tid, phase, failures)
            result, error = await self._call_agent(run, attempt)
            if error is not None:
                failures += 1
                if await self._attempt_failed(run, attempt, result, error, retry=failures <= attempt.task.max_retries):
                    phase = Phase.EXECUTION
                    continue
                break
            to_review = functools.partial(self._to_review, attempt, result)
            # With nothing to check the review is instant: review and verdict share one commit.
            instant = not attempt.task.expectations and not attempt.task.expected_outcomes
            task = attempt.task if instant else await self.writes.update(run, tid, to_review)
            try:
                assessment = await assess(task, result, project_dir=self.d.project_dir, threshold=run.threshold,
                                          judge=self.d.judge(task), command_timeout=self.d.config.command_timeout)
            except AssessmentConfigError as exc:
                await self._fail_task(run, tid, exc.message, reason="assessment cannot run")
                return
            failures += 0 if assessment.passed else 1
            fix = not assessment.passed and failures <= task.max_retries
            judged = functools.partial(self._judged, attempt, assessment, fix)
            await self.writes.update(run, tid, chain(to_review, judged) if instant else judged)
            if not fix:
                break
            phase = Phase.FIX
        await self._after_task(run, tid)

    async def _begin_attempt(self, run: Run, tid: str, phase: Phase, failures: int) -> _Attempt:
        """Commit the attempt row (and assigned -> in_progress) before the agent is called."""
        agent, runtime, model = self._pick_agent(run, run.tasks[tid], failures)
        number = run.attempts.get(tid)
        if number is None:
            with self.d.store.read() as tx:
                if run.attempts_loaded:  # a task added to the run since
                    number = tx.attempt_count(tid)
                else:  # the run's first attempt: number every task's in one query, not one each
                    counts = tx.attempt_counts(list(run.tasks))
                    run.attempts = {t: counts.get(t, 0) for t in run.tasks} | run.attempts
                    run.attempts_loaded = True
                    number = run.attempts[tid]
        number += 1
        run.attempts[tid] = number

        def begin(tx: Tx, emit: Emit, t: TaskRecord) -> TaskRecord:
            tx.start_attempt(t.id, number, phase=phase.value, agent=agent.name, model=model, owner=self.d.owner)
            if t.status == S.PENDING:
                t = put_task(tx, emit, t, S.ASSIGNED, agent=agent.name)
                t = put_task(tx, emit, t, S.IN_PROGRESS, agent=agent.name, phase=phase)
            emit(AgentSpawned(task_id=t.id, mission_id=t.mission_id, agent_name=agent.name, model=model, attempt=number,
                              phase=phase.value))
            return t
        task = await self.writes.update(run, tid, begin)
        return _Attempt(task, agent, runtime, model, number, phase)

    async def _call_agent(self, run: Run, at: _Attempt) -> tuple[TaskResult, str | None]:
        """Run the agent under `maxDuration`; any exception or timeout is the attempt's error."""
        task = at.task
        ctx = self._context(run, task, at.agent, at.model, at.number, at.phase)
        started = time.perf_counter()
        error: str | None = None
        result = TaskResult()
        try:
            timeout = task.max_duration / 1000 if task.max_duration else None
            with self.d.journal.expecting():  # its end brings a write: a commit due meanwhile waits for it
                value = await asyncio.wait_for(self.d.executor.run(at.runtime, ctx), timeout)
            result = to_task_result(value)
        except TimeoutError:
            ctx._cancelled.set()
            error = f"timed out after {task.max_duration:g} ms (maxDuration)"
            await self.d.journal.emit(TaskTimeout(task_id=task.id, mission_id=task.mission_id,
                                                  max_duration=task.max_duration, attempt=at.number))
        except asyncio.CancelledError:
            ctx._cancelled.set()
            raise
        except Exception:  # noqa: BLE001 - the agent's failure (or unusable return value) is the attempt's result
            error = traceback.format_exc()
        duration_ms = round((time.perf_counter() - started) * 1000, 3)
        result = result.model_copy(update={"agent": at.agent.name, "model": at.model, "duration_ms": duration_ms,
                                           "error": error})
        return result, error

    async def _attempt_failed(self, run: Run, at: _Attempt, result: TaskResult, error: str, *, retry: bool) -> bool:
        def failed(tx: Tx, emit: Emit, t: TaskRecord) -> TaskRecord:
            tx.finish_attempt(t.id, at.number, "failed", result.model_dump_json(by_alias=True, exclude_none=True))
            tx.log(f"{t.id}-{at.number}", error, level="error", task_id=t.id)
            emit(AgentCompleted(task_id=t.id, mission_id=t.mission_id, agent_name=at.agent.name, attempt=at.number,
                                ok=False, duration_ms=result.duration_ms, error=error.strip().splitlines()[-1]))
            if not retry:
                return put_task(tx, emit, t, S.FAILED, reason="attempt failed, no retries left", result=result, phase=None)
            t = put_task(tx, emit, t, S.PENDING, reason="attempt failed", retries=t.retries + 1, result=result, phase=None)
            emit(TaskRetry(task_id=t.id, mission_id=t.mission_id, retries=t.retries, reason="attempt failed",
                           attempt=at.number))
            return t
        await self.writes.update(run, at.task.id, failed)
        return retry

    def _to_review(self, at: _Attempt, result: TaskResult, tx: Tx, emit: Emit, t: TaskRecord) -> TaskRecord:
        tx.finish_attempt(t.id, at.number, "completed", result.model_dump_json(by_alias=True, exclude_none=True))
        emit(AgentCompleted(task_id=t.id, mission_id=t.mission_id, agent_name=at.agent.name, attempt=at.number, ok=True,
                            duration_ms=result.duration_ms))
        t = put_task(tx, emit, t, S.REVIEW, agent=at.agent.name, phase=Phase.REVIEW, result=result)
        emit(AssessmentStarted(task_id=t.id, mission_id=t.mission_id, attempt=at.number))
        return t

    def _judged(self, at: _Attempt | None, assessment: Assessment, fix: bool, tx: Tx, emit: Emit, t: TaskRecord) -> TaskRecord:
        """Result, assessment and the new status in one transaction, before any dependent is released.
        `at` is None for a reassessment (never a fix: the agent does not run)."""
        emit(_assessment_event(t, assessment))
        if assessment.passed:
            if t.side_effects:
                t = put_task(tx, emit, t, S.AWAITING_APPROVAL, assessment=assessment, phase=None)
                emit(TaskApprovalRequested(task_id=t.id, mission_id=t.mission_id, title=t.title, score=assessment.score))
                return t
            t = put_task(tx, emit, t, S.DONE, assessment=assessment, phase=None)
            emit(_completed_event(t))
            return t
        if fix and at is not None:
            t = put_task(tx, emit, t, S.IN_PROGRESS, reason="assessment failed", assessment=assessment,
                          phase=Phase.FIX, retries=t.retries + 1, feedback=assessment.feedback)
            emit(TaskFix(task_id=t.id, mission_id=t.mission_id, attempt=at.number + 1, retries=t.retries,
                         feedback=assessment.feedback, score=assessment.score))
            return t
        return put_task(tx, emit, t, S.FAILED, reason="assessment failed, no retries left", assessment=assessment,
                         phase=None)

    def _pick_agent(self, run: Run, task: TaskRecord, failures: int) -> tuple[Agent, FunctionAgent, str | None]:
        """Escalation order of `retryPolicy`: the task's agent, then its `escalateModel` after
        `escalateAfter` failures, then `fallbackAgent` after as many more (at once if no model is set)."""
        agent, runtime = self.d.resolve_agent(task.assign_to, run)
        model = agent.model or self.d.config.default_model
        policy = task.retry_policy
        if policy is None or failures < policy.escalate_after:
            return agent, runtime, model
        fallback_at = policy.escalate_after * (2 if policy.escalate_model else 1)
        if policy.fallback_agent and failures >= fallback_at:
            agent, runtime = self.d.resolve_agent(policy.fallback_agent, run)
            return agent, runtime, agent.model or self.d.config.default_model
        return agent, runtime, policy.escalate_model or model

    def _context(self, run: Run, task: TaskRecord, agent: Agent, model: str | None, number: int,
                 phase: Phase) -> AgentContext:
        loop = asyncio.get_running_loop()
        journal = self.d.journal
        session = f"{task.id}-{number}"
        mission = run.mission or run.context
        upstream = {}
        for title in task.depends_on:
            dep = run.task_by_title(title)
            if dep is not None and dep.result is not None:
                upstream[title] = dep.result

        def output(text: str) -> None:
            event = TaskOutput(task_id=task.id, mission_id=task.mission_id, attempt=number, text=text)
            loop.call_soon_threadsafe(lambda: journal.emit(event))

        def tool_use(name: str, args: Any, summary: str) -> None:
            event = TaskToolUse(task_id=task.id, mission_id=task.mission_id, attempt=number, agent_name=agent.name,
                                tool=name, args=args, result=summary)
            loop.call_soon_threadsafe(lambda: journal.emit(event))

        def log(message: str, level: str) -> None:
            loop.call_soon_threadsafe(lambda: journal.write(lambda tx, emit: tx.log(session, message, level=level, task_id=task.id)))

        return AgentContext(
            task=task, agent=agent, model=model, attempt=number, phase=phase, project_dir=self.d.project_dir,
            feedback=task.feedback if phase == Phase.FIX else None,
            mission_name=mission.name if mission else None, mission_prompt=mission.prompt if mission else "",
            mission_data=mission.data if mission else None, upstream=upstream, _memory=self.d.memory,
            _output=output, _log=log, _tool_use=tool_use,
        )

    async def _fail_task(self, run: Run, tid: str, error: str, *, reason: str) -> None:
        def fail(tx: Tx, emit: Emit, t: TaskRecord) -> TaskRecord:
            if t.status in (S.DONE, S.FAILED):
                return t
            for attempt in tx.running_attempts():
                if attempt.task_id == t.id:
                    tx.finish_attempt(t.id, attempt.number, "killed", None)
            result = (t.result or TaskResult()).model_copy(update={"error": error})
            return put_task(tx, emit, t, S.FAILED, reason=reason, result=result, phase=None)
        await self.writes.update(run, tid, fail)
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
                emit(_completed_event(t))
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
        return await self.writes.update(run, task_id, functools.partial(self._judged, None, assessment, False))

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



def _assessment_event(task: TaskRecord, a: Assessment) -> AssessmentCompleted:
    return AssessmentCompleted(task_id=task.id, mission_id=task.mission_id, score=a.score, passed=a.passed,
                               feedback=a.feedback, checks=[c.to_wire() for c in a.checks],
                               criteria=[c.to_wire() for c in a.criteria])


def _completed_event(task: TaskRecord) -> TaskCompleted:
    return TaskCompleted(task_id=task.id, mission_id=task.mission_id, title=task.title, status=task.status.value,
                         score=task.assessment.score if task.assessment else None)


__all__ = ["Engine", "EngineDeps", "Event", "NotFoundError"]
