"""Budgets: what a mission or an agent may spend, checked where a model call starts.

The decisions are pure functions of spend (`budget_limits`, `exhausted`, `warnings_due`), testable
without a loop or a model. The rest applies them: every attempt runs under a `Meter` (usage/meter.py)
whose guard runs before each model request, and once before the agent is called (a function agent makes
no request: a mission's `maxDuration` stops it there; an agent's own `maxDuration` is its attempts'
deadline, `agent_time_left`). A guard refuses the request when

- the attempt's agent has spent its own budget (`Agent.budget` bounds each attempt): the attempt fails
  with `AgentBudgetExceeded`, and the task's retry policy applies as to any failed attempt;
- the mission's spend (this execution's: what the store holds for it, plus every call since) has
  reached the mission's budget: `MissionBudgetReached`, and the attempt gives its task back (pending,
  no retry burnt) while the mission pauses with `pauseReason: "budget"` (`pause_for_budget`).

So a running attempt finishes the call it is in and is stopped before its next one; tasks not started
wait, deferred, for `resume` (after the budget is raised by a PATCH). Seconds are the attempts' wall
time, summed: an attempt in flight counts from its start. A run without budgets gets meters without a
guard; nothing here is read then.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from ..errors import ConflictError
from ..events.catalog import BudgetExceeded, BudgetWarning
from ..spec import Agent, MissionStatus, ProjectConfig, TaskRecord
from ..spec.budget import Budget
from ..spec.results import Usage
from ..store.journal import Emit, Journal
from ..store.sqlite import Store, Tx
from ..usage.ledger import meter_rows, write_spend
from ..usage.meter import Meter, Spend
from ..usage.rollup import JUDGE
from .run import Run
from .writes import TaskWrite, Writes, chain

__all__ = ["AgentBudgetExceeded", "BudgetSpent", "Limit", "MissionBudgetReached", "MissionLedger", "Spent",
           "agent_time_left", "attempt_meter", "attempt_spent", "budget_limits", "close_meter", "describe",
           "execution_of", "exhausted", "judge_meter", "mission_ledger", "over_agent_budget", "pause_for_budget",
           "refuse_resume_while_spent", "stopped_at_agent_time", "warnings_due", "with_judge_spend"]

#: The share of a limit at which `budget:warning` is sent.
WARN_AT = 0.8
PAUSE_REASON = "budget"


@dataclass(frozen=True)
class Spent:
    """Spend as budgets count it: tokens (input + output), USD of the priced calls, wall seconds."""

    tokens: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0
    unpriced_requests: int = 0


@dataclass(frozen=True)
class Limit:
    """One limit of a budget and how much of it is used (`name` as on the wire: `maxTokens`, ...)."""

    name: str
    used: float
    max: float

    def to_wire(self) -> dict[str, float | str]:
        return {"limit": self.name, "used": self.used, "max": self.max}

    def describe(self) -> str:
        unit = {"maxTokens": " tokens", "maxCostUsd": " USD", "maxDuration": " s"}[self.name]
        return f"{self.name} {_number(self.used)} of {_number(self.max)}{unit}"


def budget_limits(budget: Budget, spent: Spent) -> list[Limit]:
    """The limits `budget` sets, each with what `spent` uses of it."""
    out = []
    if budget.max_tokens is not None:
        out.append(Limit("maxTokens", spent.tokens, budget.max_tokens))
    if budget.max_cost_usd is not None:
        out.append(Limit("maxCostUsd", round(spent.cost_usd, 6), budget.max_cost_usd))
    seconds = budget.max_seconds
    if seconds is not None:
        out.append(Limit("maxDuration", round(spent.seconds, 3), seconds))
    return out


def exhausted(budget: Budget | None, spent: Spent) -> list[Limit]:
    """The limits `spent` has reached: with any, no new model call may start."""
    return [] if budget is None else [lim for lim in budget_limits(budget, spent) if lim.used >= lim.max]


def warnings_due(budget: Budget | None, spent: Spent, warned: Iterable[tuple[str, float]]) -> list[Limit]:
    """The limits at 80 % or more not warned of yet at their present size (`warned` holds (name, max)
    pairs: a raised limit warns again when its new 80 % is reached)."""
    if budget is None:
        return []
    done = set(warned)
    return [lim for lim in budget_limits(budget, spent)
            if lim.used >= WARN_AT * lim.max and (lim.name, lim.max) not in done]


def describe(limits: Iterable[Limit]) -> str:
    return ", ".join(lim.describe() for lim in limits)


class BudgetSpent(RuntimeError):
    """A model call refused because a budget is spent; the message is the whole report."""

    own_traceback = True  # tracebacks.attempt_error stores the message alone

    def __init__(self, message: str, limits: list[Limit]) -> None:
        super().__init__(message)
        self.limits = limits


class AgentBudgetExceeded(BudgetSpent):
    """An attempt went over its agent's budget: the attempt fails."""


class MissionBudgetReached(BudgetSpent):
    """The mission's budget is spent: the attempt gives its task back and the mission pauses."""


@dataclass
class MissionLedger:
    """A budgeted mission run's spend: what the store held for this execution when the ledger was made,
    plus every call of this process since (reported per request by the meters)."""

    tokens: int = 0
    cost: Decimal = Decimal(0)
    seconds: float = 0.0
    unpriced_requests: int = 0
    open: set[Meter] = field(default_factory=set)  # attempts in flight: their time so far counts
    warned: set[tuple[str, float]] = field(default_factory=set)
    pausing: bool = False  # one pause for concurrent refusals

    def spent(self) -> Spent:
        seconds = self.seconds + sum(m.elapsed() for m in self.open)
        return Spent(self.tokens, float(self.cost), seconds, self.unpriced_requests)

    def add(self, spend: Spend) -> None:
        self.tokens += spend.tokens
        self.cost += spend.cost
        self.unpriced_requests += spend.unpriced_requests

    def close(self, meter: Meter) -> None:
        if meter in self.open:
            self.open.discard(meter)
            self.seconds += meter.elapsed()


def mission_ledger(run: Run, store: Store) -> MissionLedger | None:
    """The run's ledger, made (from the store) the first time a budgeted mission needs one."""
    mission = run.mission
    if mission is None or mission.budget is None:
        return None
    ledger = run.budget_ledger
    if ledger is None:
        ledger = MissionLedger()
        with store.read() as tx:
            rows = tx.spend(mission.id)
        for row in rows:
            if row.execution == mission.execution_count:
                ledger.tokens += row.input_tokens + row.output_tokens
                ledger.cost += Decimal(row.cost_usd) if row.cost_usd else Decimal(0)
                ledger.seconds += row.duration_ms / 1000 if row.kind == "attempt" else 0.0
                ledger.unpriced_requests += row.unpriced_requests
        run.budget_ledger = ledger
    return ledger


def refuse_resume_while_spent(run: Run, store: Store) -> None:
    """A mission paused on its budget resumes once the budget was raised (or removed): before that its
    next model call would be refused at once, so `resume` says so instead (409)."""
    mission = run.mission
    if mission is None or mission.pause_reason != PAUSE_REASON:
        return
    ledger = mission_ledger(run, store)
    over = exhausted(mission.budget, ledger.spent()) if ledger is not None else []
    if over:
        raise ConflictError(f"Mission {mission.name!r} has spent its budget ({describe(over)}); raise the budget "
                            "(update the mission's budget) before resuming it")


def attempt_meter(run: Run, task: TaskRecord, agent: Agent, attempt: int, config: ProjectConfig, store: Store,
                  journal: Journal) -> Meter:
    """The meter of one attempt: with a guard when its agent or its mission has a budget."""
    ledger = mission_ledger(run, store)
    if agent.budget is None and ledger is None:
        return Meter(config.prices)
    mission_id = run.mission.id if run.mission else task.mission_id
    warned_agent: set[tuple[str, float]] = set()

    def warn(scope: str, limits: list[Limit]) -> None:
        who = {"mission_id": mission_id, "task_id": task.id, "agent_name": agent.name}
        warnings = [BudgetWarning(scope=scope, limit=lim.name, used=lim.used, max=lim.max,
                                  message=f"{scope} budget at {lim.used / lim.max:.0%}: {lim.describe()}", **who)
                    for lim in limits]

        def emit_all(tx: Tx, emit: Emit) -> None:
            for warning in warnings:
                emit(warning)
        journal.unawaited(emit_all)

    def guard(meter: Meter) -> None:
        over = exhausted(agent.budget, attempt_spent(meter))
        if over:
            raise over_agent_budget(run, task, agent, attempt, over, journal, stopped=False)
        budget = run.mission.budget if run.mission else None
        if ledger is not None and budget is not None:
            over = exhausted(budget, ledger.spent())
            if over:
                meter.refused = MissionBudgetReached(
                    f"mission budget spent ({describe(over)}); the mission pauses until its budget is raised "
                    "and it is resumed", over)
                raise meter.refused

    def observe(meter: Meter, model_id: str, spend: Spend) -> None:
        due = warnings_due(agent.budget, attempt_spent(meter), warned_agent)
        warned_agent.update((lim.name, lim.max) for lim in due)
        if due:
            warn("agent", due)
        if ledger is not None:
            ledger.add(spend)
            budget = run.mission.budget if run.mission else None
            due = warnings_due(budget, ledger.spent(), ledger.warned)
            ledger.warned.update((lim.name, lim.max) for lim in due)
            if due:
                warn("mission", due)

    meter = Meter(config.prices, guard=guard, observe=observe)
    if ledger is not None:
        ledger.open.add(meter)
    return meter


def attempt_spent(meter: Meter) -> Spent:
    """What one attempt spent, as its agent's budget counts it."""
    total = meter.total
    return Spent(total.tokens, float(total.cost), meter.elapsed(), total.unpriced_requests)


def over_agent_budget(run: Run, task: TaskRecord, agent: Agent, attempt: int, over: list[Limit], journal: Journal, *,
                      stopped: bool) -> AgentBudgetExceeded:
    """`budget:exceeded` for an attempt over its agent's budget, and the error the attempt fails with:
    refused its next model call, or `stopped` at its agent's `maxDuration`."""
    message = f"agent budget spent ({describe(over)})"
    exceeded = BudgetExceeded(scope="agent", limits=[lim.to_wire() for lim in over], message=message,
                              mission_id=run.mission.id if run.mission else task.mission_id, task_id=task.id,
                              agent_name=agent.name)
    journal.unawaited(lambda tx, emit: emit(exceeded))
    ending = "it was stopped" if stopped else "no further model call was made"
    return AgentBudgetExceeded(f"agent {agent.name!r} spent its budget for attempt {attempt} of task {task.title!r} "
                               f"({describe(over)}); {ending}", over)


def agent_time_left(agent: Agent, meter: Meter | None) -> float | None:
    """Seconds left of the agent's `maxDuration` for this attempt (an agent's budget bounds each of its
    attempts), or None when it sets none: the attempt's deadline. Checked only where a model call
    starts, it would never stop a function agent, which makes none, nor a call that hangs."""
    seconds = agent.budget.max_seconds if agent.budget is not None else None
    if seconds is None or meter is None:
        return None
    return max(seconds - meter.elapsed(), 0.0)


def stopped_at_agent_time(run: Run, task: TaskRecord, agent: Agent, attempt: int, meter: Meter,
                          journal: Journal) -> AgentBudgetExceeded:
    """The error of an attempt its agent's `maxDuration` stopped (`agent_time_left` ran out), reported as
    any attempt over its agent's budget."""
    assert agent.budget is not None
    limits = [lim for lim in budget_limits(agent.budget, attempt_spent(meter))
              if lim.used >= lim.max or lim.name == "maxDuration"]  # (what stopped it, read a hair early or not)
    return over_agent_budget(run, task, agent, attempt, limits, journal, stopped=True)


def close_meter(run: Run, meter: Meter, reported: Usage | None = None) -> None:
    """The attempt ended: its wall time joins the run's ledger (if it keeps one), and so does the usage a
    remote worker reported with its result (its calls were not metered in this process)."""
    ledger = run.budget_ledger
    if ledger is None:
        return
    ledger.close(meter)
    if reported is not None and not meter.by_model:
        ledger.tokens += reported.input_tokens + reported.output_tokens
        ledger.cost += Decimal(str(reported.cost_usd)) if reported.cost_usd is not None else Decimal(0)
        ledger.unpriced_requests += reported.unpriced_requests


async def pause_for_budget(run: Run, writes: Writes, refused: BudgetSpent) -> None:
    """Pause the mission (once, however many attempts were refused) with `pauseReason: "budget"` and a
    `budget:exceeded` event naming what ran out."""
    ledger = run.budget_ledger
    mission = run.mission
    if mission is None or ledger is None or ledger.pausing or mission.status != MissionStatus.ACTIVE:
        return
    ledger.pausing = True
    try:
        message = f"Mission budget spent: {describe(refused.limits)}; raise the budget and resume to go on"
        await writes.set_mission(
            run, MissionStatus.PAUSED, pause_reason=PAUSE_REASON, pause_message=message,
            extra=[BudgetExceeded(scope="mission", limits=[lim.to_wire() for lim in refused.limits],
                                  message=message, mission_id=mission.id)])
    finally:
        ledger.pausing = False


def _number(value: float) -> str:
    return f"{value:,.6g}" if isinstance(value, float) and not value.is_integer() else f"{int(value):,}"



def judge_meter(run: Run, config: ProjectConfig) -> Meter:
    """The meter of a review: the judge's calls count toward the mission's budget, but a review under
    way is not stopped (the attempt it judges is paid for; its task would run again otherwise)."""
    ledger = run.budget_ledger
    return Meter(config.prices, observe=(lambda meter, model, spend: ledger.add(spend)) if ledger is not None else None)


def with_judge_spend(write: TaskWrite, meter: Meter | None, task: TaskRecord, execution: int | None,
                     attempt: int) -> TaskWrite:
    """`write` (a verdict), also storing what the review's model calls spent, as the judge's."""
    if meter is None or not meter.by_model:
        return write
    rows = meter_rows("judge", meter, agent=JUDGE, mission_id=task.mission_id, execution=execution, task_id=task.id,
                      attempt=attempt)

    def spend(tx: Tx, emit: Emit, t: TaskRecord) -> TaskRecord:
        write_spend(tx, rows)
        return t
    return chain(write, spend)


def execution_of(run: Run) -> int | None:
    """The execution of the mission this run's spend belongs to."""
    mission = run.mission or run.context
    return mission.execution_count if mission is not None else None
