"""Spend rolled up: totals of the store's spend rows per task, agent, model, mission or kind.

Every grouping partitions the same rows, so each one sums to the total: an agent's attempts under
its name, the judge's reviews under `judge` and the chat orchestrator's turns under `chat` (never
hidden inside a task), calls nobody could price counted apart (`unpricedRequests`, `unpricedTokens`)
and never as a cost of 0. Costs are summed as decimals, so totals are exact.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field

from ..spec._base import WireModel
from ..spec.budget import Budget
from ..store.rows import SpendRow

__all__ = ["GROUPINGS", "Grouping", "MissionUsage", "UsageLine", "UsageTotals", "group_key", "rollup", "totals"]

Grouping = Literal["task", "agent", "model", "mission", "kind"]
GROUPINGS: tuple[str, ...] = ("task", "agent", "model", "mission", "kind")
#: The agent name the LLM judge's spend is attributed to; the chat orchestrator's is `chat`.
JUDGE = "judge"
CHAT = "chat"


class UsageTotals(WireModel):
    """Summed spend. `costUsd` is the cost of the priced calls (None when none was priced); the calls
    that could not be priced are `unpricedRequests` (with their tokens in `unpricedTokens`)."""

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    requests: int = 0
    tool_calls: int = 0
    cost_usd: float | None = None
    unpriced_requests: int = 0
    unpriced_tokens: int = 0
    duration_ms: float = Field(default=0.0, description="Wall time: attempts' whole runs, the judge's and "
                               "chat's time waiting for models.")
    attempts: int = Field(default=0, description="Agent attempts counted.")

    @property
    def priced(self) -> bool:
        """Every call counted could be priced."""
        return self.unpriced_requests == 0


class UsageLine(UsageTotals):
    """The totals of one group: `key` is the task id, agent, model, mission id or kind; `label` a name
    to show (a task's title, a mission's name)."""

    key: str
    label: str | None = None


class MissionUsage(WireModel):
    """`GET missions/:id/usage`: what a mission spent, in total and by task, agent and model, and its
    budget against the spend of its current execution."""

    mission_id: str
    name: str
    total: UsageTotals
    by_task: list[UsageLine] = Field(default_factory=list)
    by_agent: list[UsageLine] = Field(default_factory=list)
    by_model: list[UsageLine] = Field(default_factory=list)
    budget: Budget | None = None
    budget_used: list[dict[str, float | str]] = Field(default_factory=list, description="Each limit of the budget "
                                                      "with what the current execution used: `{limit, used, max}`.")


def group_key(row: SpendRow, by: str) -> str:
    if by == "task":
        return row.task_id or "" if row.kind == "attempt" else (JUDGE if row.kind == "judge" else CHAT)
    if by == "agent":
        if row.kind == "judge":
            return JUDGE
        if row.kind == "chat":
            return row.agent or CHAT
        return row.agent or "?"
    if by == "model":
        return row.model or "?"
    if by == "mission":
        return row.mission_id or "(none)"
    if by == "kind":
        return row.kind
    raise ValueError(f"usage can be grouped by {', '.join(GROUPINGS)}, not {by!r}")


def totals(rows: Iterable[SpendRow]) -> UsageTotals:
    return UsageTotals(**_sum(rows))


def rollup(rows: Iterable[SpendRow], by: str, labels: Mapping[str, str] | None = None) -> list[UsageLine]:
    """One line per group, in the order groups first appear."""
    groups: dict[str, list[SpendRow]] = {}
    for row in rows:
        groups.setdefault(group_key(row, by), []).append(row)
    labels = labels or {}
    return [UsageLine(key=key, label=labels.get(key, key), **_sum(members)) for key, members in groups.items()]


def _sum(rows: Iterable[SpendRow]) -> dict[str, Any]:
    ints = dict.fromkeys(("input_tokens", "output_tokens", "cached_tokens", "requests", "tool_calls",
                          "unpriced_requests", "unpriced_tokens"), 0)
    cost, priced, duration, attempts = Decimal(0), False, 0.0, 0
    for row in rows:
        for name in ints:
            ints[name] += getattr(row, name)
        if row.cost_usd is not None:
            cost += Decimal(row.cost_usd)
            priced = True
        duration += row.duration_ms
        attempts += row.kind == "attempt"
    return {**ints, "total_tokens": ints["input_tokens"] + ints["output_tokens"],
            "cost_usd": float(cost) if priced else None, "duration_ms": round(duration, 3), "attempts": attempts}
