"""What an agent produces and what the assessment says of it."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from ._base import WireModel
from .jsonvalues import json_value


class Usage(WireModel):
    """What model calls spent. `inputTokens` includes `cachedTokens` (read from the provider's prompt
    cache). `costUsd` is the cost of the calls that could be priced (None when none could); calls that
    could not are counted in `unpricedRequests` and `unpricedTokens`, never as a cost of 0."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    requests: int = 0
    tool_calls: int = 0
    cost_usd: float | None = None
    unpriced_requests: int = 0
    unpriced_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class TaskResult(WireModel):
    """An attempt's output. `error` is set (with the traceback) when the agent raised or timed out."""

    content: str = ""
    files_created: list[str] = Field(default_factory=list)
    data: Any = None
    error: str | None = None
    usage: Usage | None = None
    model: str | None = Field(default=None, description="The model the attempt ran with, if any.")
    agent: str | None = None
    duration_ms: float | None = None

    @field_validator("data")
    @classmethod
    def _json_data(cls, value: Any) -> Any:
        """`data` goes out as JSON: an agent's `float("nan")` (pandas hands them out freely) or an object
        JSON cannot carry is refused here, at the attempt, naming where it is (spec/jsonvalues.py); the
        store could not write it, and that failed the commit instead of the attempt."""
        return json_value(value, "data")


class CheckResult(WireModel):
    """One expected outcome's deterministic check."""

    type: str
    target: str = ""
    passed: bool
    message: str = ""


class CriterionScore(WireModel):
    """One expectation's score (1-5) and the judge's or check's feedback."""

    criterion: str
    kind: str = "criterion"
    score: float = Field(ge=1, le=5)
    feedback: str = ""


class Assessment(WireModel):
    """Score = mean of the criteria (None when there are none); passed = every check passed and
    score >= the mission's qualityThreshold."""

    score: float | None = None
    passed: bool
    feedback: str = ""
    checks: list[CheckResult] = Field(default_factory=list)
    criteria: list[CriterionScore] = Field(default_factory=list)
    threshold: float | None = None
    timestamp: str | None = None
