"""The life of one task inside a run: attempts until it settles.

An attempt is committed (its row, assigned -> in_progress, `agent:spawned`) before the agent is called;
the agent runs under `maxDuration` through the executor; its result goes to review, and the verdict
(result, assessment and the new status) is committed in one transaction before any dependent is
released. A failed attempt retries and a failed review sends the agent back with the feedback while
`maxRetries` lasts, escalating by `retryPolicy`. What happens around the task once it settles
(dependents, holds, the run's end) is the dispatcher's.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..agents.context import AgentContext
from ..agents.function import FunctionAgent, to_task_result
from ..agents.steps import StepLog
from ..assess import AssessmentConfigError, assess
from ..events.catalog import (
    AgentCompleted,
    AgentSpawned,
    AssessmentCompleted,
    AssessmentStarted,
    TaskApprovalRequested,
    TaskCompleted,
    TaskFix,
    TaskOutput,
    TaskRetry,
    TaskTimeout,
    TaskToolUse,
)
from ..spec import Agent, Assessment, Phase, TaskRecord, TaskResult, TaskStatus, share_given_fields
from ..store.journal import Emit, WriteNotStored, not_stored
from ..store.sqlite import Tx
from ..tracebacks import attempt_error
from ..usage.ledger import attempt_rows, write_spend
from ..usage.meter import Meter, metering
from .budget import (
    agent_time_left,
    attempt_meter,
    close_meter,
    execution_of,
    judge_meter,
    pause_for_budget,
    stopped_at_agent_time,
    with_judge_spend,
)
from .deps import EngineDeps
from .holds import has_holds
from .resume import continued_attempt
from .run import Run
from .writes import Writes, chain, end_running_attempts, put_task

S = TaskStatus


@dataclass(frozen=True)
class Attempt:
    task: TaskRecord
    agent: Agent
    runtime: FunctionAgent
    model: str | None
    number: int
    phase: Phase
    meter: Meter | None = None  # counts its model calls; its guard applies the budgets (budget.py)
    execution: int | None = None  # of the mission, which its spend belongs to


class Attempts:
    def __init__(self, deps: EngineDeps, writes: Writes) -> None:
        self.d = deps
        self.writes = writes

    async def drive(self, run: Run, tid: str, arrived: Callable[[], None] = lambda: None
                    ) -> asyncio.Future[TaskRecord] | None:
        """Attempts until the task settles: execution, review, then fix or retry while the budget lasts.

        `arrived` is called once the first attempt's begin is queued. A task that passes, with nothing
        to approve in a run without holds, returns its verdict's write still committing: the dispatcher
        starts its dependents meanwhile, their begins in the same transaction (`Journal.write`'s
        `after`); otherwise the verdict is committed when this returns None.

        A mission that paused while an attempt ran (a checkpoint, a gate, its budget) starts no other:
        the task goes back to pending, and its next run (after the resume) goes on where it stopped."""
        failures, phase = run.handed_back.pop(tid, (0, Phase.EXECUTION))
        while True:
            if failures and not run.active:
                await self._hand_back(run, tid, failures, phase)
                return None
            attempt = await self._begin(run, tid, phase, failures, arrived)
            result, error = await self._call_agent(run, attempt)
            if attempt.meter is not None and attempt.meter.refused is not None:
                await self._budget_spent(run, attempt, result)  # the mission's budget: give the task back
                return None
            if error is not None:
                failures += 1
                if await self._failed(run, attempt, result, error, retry=failures <= attempt.task.max_retries):
                    phase = Phase.EXECUTION
                    continue
                break
            to_review = functools.partial(self._to_review, attempt, result)
            # With nothing to check the review is instant: review and verdict share one commit.
            instant = not attempt.task.expectations and not attempt.task.expected_outcomes
            task = attempt.task if instant else await self.writes.update(run, tid, to_review)
            judge = self.d.judge(task)
            meter = judge_meter(run, self.d.config) if judge is not None else None
            try:
                with metering(meter):
                    assessment = await assess(task, result, project_dir=self.d.project_dir, threshold=run.threshold,
                                              judge=judge, command_timeout=self.d.config.command_timeout)
            except AssessmentConfigError as exc:
                await self.fail(run, tid, exc.message, reason="assessment cannot run")
                return None
            share_given_fields((assessment,))  # kept in the task's record for the run's life
            failures += 0 if assessment.passed else 1
            fix = not assessment.passed and failures <= task.max_retries
            judged = with_judge_spend(functools.partial(self.judged, attempt, assessment, fix), meter, task,
                                      attempt.execution, attempt.number)  # the judge's spend, with its verdict
            verdict = self.writes.queue(run, tid, chain(to_review, judged) if instant else judged)
            if assessment.passed and not task.side_effects and not has_holds(run):
                return verdict  # done once it commits, and nothing waits on it but its dependents
            await verdict
            if not fix:
                break
            phase = Phase.FIX
        return None

    async def _hand_back(self, run: Run, tid: str, failures: int, phase: Phase) -> None:
        """Between two attempts of a task whose mission is no longer active: back to pending (where a
        failed attempt's retry already is), its failures and next phase kept for its next run."""
        def back(tx: Tx, emit: Emit, t: TaskRecord) -> TaskRecord:
            if t.status == S.PENDING:
                return t
            return put_task(tx, emit, t, S.PENDING, reason=f"mission {(run.leaving or run.status).value}", phase=None)
        await self.writes.update(run, tid, back)
        run.handed_back[tid] = (failures, phase)

    async def fail(self, run: Run, tid: str, error: str, *, reason: str, attempt_status: str = "failed") -> None:
        """The task fails with `error` (killed, aborted by an engine error, ...); its running attempt ends
        `attempt_status`: `failed` as the task does, unless someone killed it. A task already done or
        failed stays as it is."""
        def fail(tx: Tx, emit: Emit, t: TaskRecord) -> TaskRecord:
            if t.status in (S.DONE, S.FAILED):
                return t
            end_running_attempts(tx, (t.id,), attempt_status)
            result = (t.result or TaskResult()).model_copy(update={"error": error})
            return put_task(tx, emit, t, S.FAILED, reason=reason, result=result, phase=None)
        await self.writes.update(run, tid, fail)

    async def _begin(self, run: Run, tid: str, phase: Phase, failures: int,
                     arrived: Callable[[], None] = lambda: None) -> Attempt:
        """Commit the attempt row (and assigned -> in_progress) before the agent is called: in the
        transaction of the results it depends on, if they are still committing, or after it."""
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
        # a crash interrupted the last attempt after it stored steps: that attempt runs on (resume.py)
        resumed = continued_attempt(self.d.store, tid, number) if not failures and phase is Phase.EXECUTION else None
        if resumed is not None:
            phase, model = Phase(resumed.phase), resumed.model
            if resumed.agent != agent.name:
                agent, runtime = self.d.resolve_agent(resumed.agent, run)
        else:
            number += 1
        run.attempts[tid] = number

        def begin(tx: Tx, emit: Emit, t: TaskRecord) -> TaskRecord:
            if resumed is not None:
                tx.reopen_attempt(t.id, number, self.d.owner)
            else:
                tx.start_attempt(t.id, number, phase=phase.value, agent=agent.name, model=model, owner=self.d.owner)
            if t.status == S.PENDING:
                t = put_task(tx, emit, t, S.IN_PROGRESS, via=S.ASSIGNED, agent=agent.name, phase=phase)
            emit(AgentSpawned(task_id=t.id, mission_id=t.mission_id, agent_name=agent.name, model=model, attempt=number,
                              phase=phase.value, resumed=resumed is not None))
            return t
        after = run.settling_parents(tid)
        begun = self.writes.queue(run, tid, begin, after=after)
        arrived()
        try:
            task = await begun
        except Exception:
            if any(not_stored(f) for f in after):
                raise WriteNotStored("a task it depends on was not stored") from None  # (its failure skips this one)
            raise
        # No model and no budget (a function agent in a project without defaultModel): nothing to count or
        # check. A budget bounds a function agent's time too: its attempt is metered and checked at its start.
        budgeted = agent.budget is not None or (run.mission is not None and run.mission.budget is not None)
        meter = (attempt_meter(run, task, agent, number, self.d.config, self.d.store, self.d.journal)
                 if model or budgeted else None)
        return Attempt(task, agent, runtime, model, number, phase, meter, execution_of(run))

    async def _call_agent(self, run: Run, at: Attempt) -> tuple[TaskResult, str | None]:
        """Run the agent under `maxDuration`; any exception or timeout is the attempt's error."""
        task = at.task
        ctx = self._context(run, task, at.agent, at.model, at.number, at.phase)
        started = time.perf_counter()
        error: str | None = None
        result: TaskResult | None = None
        # The attempt's deadline: the task's maxDuration, or its agent's budget if that ends first (none
        # without either: an `asyncio.timeout(None)` per attempt cost ~1% of a quick task).
        seconds = task.max_duration / 1000 if task.max_duration else None
        agent_left = agent_time_left(at.agent, at.meter)
        by_budget = agent_left is not None and (seconds is None or agent_left < seconds)
        if by_budget:
            seconds = agent_left
        deadline = asyncio.timeout(seconds) if seconds is not None else None
        try:
            if at.meter is not None:
                at.meter.before_request()  # a spent budget starts no agent (function agents make no model call)
            call = self.d.executor.run(at.runtime, ctx)
            with self.d.journal.expecting(), metering(at.meter):  # its end brings a write: a commit due meanwhile waits
                if deadline is None:
                    value = await call
                else:
                    async with deadline:
                        value = await call
            result = to_task_result(value)
        except TimeoutError as exc:
            if deadline is None or not deadline.expired():  # the agent's own (a socket's), not maxDuration's
                error = attempt_error(exc)
            elif by_budget:
                ctx.cancel()
                assert at.meter is not None  # (an agent with a budget is metered)
                error = attempt_error(stopped_at_agent_time(run, task, at.agent, at.number, at.meter, self.d.journal))
            else:
                ctx.cancel()
                error = f"timed out after {task.max_duration:g} ms (maxDuration)"
                await self.d.journal.emit(TaskTimeout(task_id=task.id, mission_id=task.mission_id,
                                                      max_duration=task.max_duration, attempt=at.number))
        except asyncio.CancelledError:
            ctx.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - the agent's failure (or unusable return value) is the attempt's result
            error = attempt_error(exc)
        duration_ms = round((time.perf_counter() - started) * 1000, 3)
        if result is None:  # it failed: no output
            result = TaskResult()
        usage = result.usage
        if at.meter is not None:
            close_meter(run, at.meter, usage)
            usage = at.meter.total.to_usage() if at.meter.by_model else usage  # metered here: exact, priced
        result = result.evolve(agent=at.agent.name, model=at.model, duration_ms=duration_ms, error=error, usage=usage)
        return result, error

    async def _failed(self, run: Run, at: Attempt, result: TaskResult, error: str, *, retry: bool) -> bool:
        def failed(tx: Tx, emit: Emit, t: TaskRecord) -> TaskRecord:
            tx.finish_attempt(t.id, at.number, "failed", result.model_dump_json(by_alias=True, exclude_none=True))
            write_spend(tx, attempt_rows(result, at.meter, mission_id=t.mission_id, execution=at.execution,
                                         task_id=t.id, attempt=at.number))
            tx.log(f"{t.id}-{at.number}", error, level="error", task_id=t.id)
            emit(AgentCompleted(task_id=t.id, mission_id=t.mission_id, agent_name=at.agent.name, attempt=at.number,
                                ok=False, duration_ms=result.duration_ms, error=error.strip().splitlines()[-1]))
            by = at.agent.name  # (a fallback's attempt is its own, not the task's agent's)
            if not retry:
                return put_task(tx, emit, t, S.FAILED, reason="attempt failed, no retries left", agent=by, result=result,
                                phase=None)
            t = put_task(tx, emit, t, S.PENDING, reason="attempt failed", agent=by, retries=t.retries + 1, result=result,
                         phase=None)
            emit(TaskRetry(task_id=t.id, mission_id=t.mission_id, retries=t.retries, reason="attempt failed",
                           attempt=at.number))
            return t
        await self.writes.update(run, at.task.id, failed)
        return retry

    async def _budget_spent(self, run: Run, at: Attempt, result: TaskResult) -> None:
        """The mission's budget refused the attempt's next model call: the attempt ends (`budget`, with
        what it spent), its task goes back to pending without burning a retry, the mission pauses."""
        assert at.meter is not None and at.meter.refused is not None
        refused = at.meter.refused

        def give_back(tx: Tx, emit: Emit, t: TaskRecord) -> TaskRecord:
            tx.finish_attempt(t.id, at.number, "budget", result.model_dump_json(by_alias=True, exclude_none=True))
            write_spend(tx, attempt_rows(result, at.meter, mission_id=t.mission_id, execution=at.execution,
                                         task_id=t.id, attempt=at.number))
            tx.log(f"{t.id}-{at.number}", str(refused), level="warning", task_id=t.id)
            return put_task(tx, emit, t, S.PENDING, reason="mission budget spent", phase=None)
        await self.writes.update(run, at.task.id, give_back)
        await pause_for_budget(run, self.writes, refused)  # type: ignore[arg-type]

    def _to_review(self, at: Attempt, result: TaskResult, tx: Tx, emit: Emit, t: TaskRecord) -> TaskRecord:
        tx.finish_attempt(t.id, at.number, "completed", result.model_dump_json(by_alias=True, exclude_none=True))
        write_spend(tx, attempt_rows(result, at.meter, mission_id=t.mission_id, execution=at.execution,
                                     task_id=t.id, attempt=at.number))
        emit(AgentCompleted(task_id=t.id, mission_id=t.mission_id, agent_name=at.agent.name, attempt=at.number, ok=True,
                            duration_ms=result.duration_ms))
        t = put_task(tx, emit, t, S.REVIEW, agent=at.agent.name, phase=Phase.REVIEW, result=result)
        emit(AssessmentStarted(task_id=t.id, mission_id=t.mission_id, attempt=at.number))
        return t

    @staticmethod
    def judged(at: Attempt | None, assessment: Assessment, fix: bool, tx: Tx, emit: Emit, t: TaskRecord) -> TaskRecord:
        """Result, assessment and the new status in one transaction, before any dependent is released.
        `at` is None for a reassessment (never a fix: the agent does not run)."""
        emit(AssessmentCompleted(task_id=t.id, mission_id=t.mission_id, score=assessment.score, passed=assessment.passed,
                                 feedback=assessment.feedback, checks=[c.to_wire() for c in assessment.checks],
                                 criteria=[c.to_wire() for c in assessment.criteria],
                                 usage=t.result.usage.to_wire() if t.result and t.result.usage else None))
        if assessment.passed:
            if t.side_effects:
                t = put_task(tx, emit, t, S.AWAITING_APPROVAL, assessment=assessment, phase=None)
                emit(TaskApprovalRequested(task_id=t.id, mission_id=t.mission_id, title=t.title, score=assessment.score))
                return t
            t = put_task(tx, emit, t, S.DONE, assessment=assessment, phase=None)
            emit(completed_event(t))
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
        agent, runtime = self.d.resolve_agent(task, run)
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
            loop.call_soon_threadsafe(journal.unawaited, lambda tx, emit: emit(event))

        def tool_use(name: str, args: Any, summary: str) -> None:
            event = TaskToolUse(task_id=task.id, mission_id=task.mission_id, attempt=number, agent_name=agent.name,
                                tool=name, args=args, result=summary)
            loop.call_soon_threadsafe(journal.unawaited, lambda tx, emit: emit(event))

        def log(message: str, level: str) -> None:
            loop.call_soon_threadsafe(journal.unawaited, lambda tx, emit: tx.log(session, message, level=level,
                                                                                 task_id=task.id))

        return AgentContext(
            task=task, agent=agent, model=model, attempt=number, phase=phase, project_dir=self.d.project_dir,
            feedback=task.feedback if phase == Phase.FIX else None,
            mission_name=mission.name if mission else None, mission_prompt=mission.prompt if mission else "",
            mission_data=mission.data if mission else None, upstream=upstream, _memory=self.d.memory,
            _output=output, _log=log, _tool_use=tool_use, _steps=StepLog(self.d.store, journal, loop, task.id, number),
        )


def completed_event(task: TaskRecord) -> TaskCompleted:
    return TaskCompleted(task_id=task.id, mission_id=task.mission_id, title=task.title, status=task.status.value,
                         score=task.assessment.score if task.assessment else None)

