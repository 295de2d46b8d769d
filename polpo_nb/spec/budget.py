"""Budgets: how much a mission or an agent may spend (tokens, dollars, seconds) before it stops.

A mission's budget bounds everything spent for it (its agents' attempts and the judge's reviews); once
its spend reaches a limit no new model call starts and the mission pauses (`pauseReason: "budget"`)
until the budget is raised and the mission resumed. An agent's budget bounds each of its attempts (as
`maxTurns` does): an attempt over it fails, and the task's retry policy applies.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from ._base import WireModel
from .durations import parse_duration

#: The limits a budget can set, in the order they are reported.
BUDGET_LIMITS = ("max_tokens", "max_cost_usd", "max_duration")


class Budget(WireModel):
    """`{"maxTokens": N, "maxCostUsd": X, "maxDuration": "PT2H"}`; each limit is optional."""

    max_tokens: int | None = Field(default=None, ge=1, description="Input + output tokens.")
    max_cost_usd: float | None = Field(default=None, gt=0, description="USD, of the calls that could be "
                                       "priced (calls that cannot are flagged, see the usage rollups).")
    max_duration: str | None = Field(default=None, description="ISO 8601 (`PT2H`): the attempts' wall time, "
                                     "summed (concurrent tasks each count; `deadline` bounds the clock).")

    @field_validator("max_duration")
    @classmethod
    def _duration_valid(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @property
    def max_seconds(self) -> float | None:
        return parse_duration(self.max_duration).total_seconds() if self.max_duration else None
