"""Spend as rows of the store, written in the transaction of the work they pay for.

An attempt's spend is written with its result (the same transaction that records the attempt finished)
and the judge's with the verdict it gave: a crash before the commit loses the work and its spend
together, and a resumed run cannot count it twice. A chat turn's is written when the turn ends.
"""

from __future__ import annotations

from decimal import Decimal

from ..spec.results import TaskResult, Usage
from ..store.rows import SpendRow
from ..store.sqlite import Tx
from .meter import Meter

__all__ = ["attempt_rows", "meter_rows", "usage_row", "write_spend"]


def usage_row(kind: str, usage: Usage, *, model: str | None, agent: str | None, duration_ms: float,
              mission_id: str | None = None, execution: int | None = None, task_id: str | None = None,
              attempt: int | None = None, session_id: str | None = None, cost: Decimal | None = None) -> SpendRow:
    """One row for `usage` (an attempt's, on its one model). `cost` overrides `usage.costUsd` (exact)."""
    if cost is None and usage.cost_usd is not None:
        cost = Decimal(str(usage.cost_usd))
    return SpendRow(kind=kind, mission_id=mission_id, execution=execution, task_id=task_id, attempt=attempt,
                    session_id=session_id, agent=agent, model=model, input_tokens=usage.input_tokens,
                    output_tokens=usage.output_tokens, cached_tokens=usage.cached_tokens, requests=usage.requests,
                    tool_calls=usage.tool_calls, cost_usd=None if cost is None else str(cost),
                    unpriced_requests=usage.unpriced_requests, unpriced_tokens=usage.unpriced_tokens,
                    duration_ms=duration_ms)


def meter_rows(kind: str, meter: Meter, *, agent: str | None, mission_id: str | None = None,
               execution: int | None = None, task_id: str | None = None, attempt: int | None = None,
               session_id: str | None = None) -> list[SpendRow]:
    """A meter's spend, one row per model it saw; the time is the time spent waiting for the models."""
    rows = []
    seconds = meter.model_seconds / max(1, len(meter.by_model))
    for model, spend in meter.by_model.items():
        rows.append(usage_row(kind, spend.to_usage(), model=model, agent=agent, duration_ms=round(seconds * 1000, 3),
                              mission_id=mission_id, execution=execution, task_id=task_id, attempt=attempt,
                              session_id=session_id, cost=spend.cost if spend.priced_requests else None))
    return rows


def write_spend(tx: Tx, rows: list[SpendRow]) -> None:
    for row in rows:
        tx.add_spend(row)


def attempt_rows(result: TaskResult, meter: Meter | None, *, mission_id: str | None, execution: int | None,
                 task_id: str, attempt: int) -> list[SpendRow]:
    """The row of an attempt's spend: its usage on its model, its wall time; the meter's exact cost when
    the calls were metered here. An attempt that called no model has none, unless a budget guarded it (a
    function agent under a mission's `maxDuration`): then its row holds its wall time alone, so a resume
    in another process counts that time too."""
    usage, model = result.usage, result.model
    if usage is None:
        if meter is None or meter.guard is None:
            return []
        usage, model = Usage(), None
    cost = meter.total.cost if meter is not None and meter.by_model and usage.cost_usd is not None else None
    return [usage_row("attempt", usage, model=model, agent=result.agent, duration_ms=result.duration_ms or 0.0,
                      mission_id=mission_id, execution=execution, task_id=task_id, attempt=attempt, cost=cost)]
