"""Tasks: the definition a user writes (`Task`) and the stored resource the API returns (`TaskRecord`)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, field_validator

from ._base import WireModel
from .expectations import Expectation, ExpectedOutcome
from .results import Assessment, TaskResult
from .status import Phase, TaskStatus

DEFAULT_MAX_RETRIES = 3


class RetryPolicy(WireModel):
    """Escalation after failed attempts: the same agent on `escalateModel`, then `fallbackAgent`.

    With `escalateAfter = n`: attempts after n failures use `escalateModel` (if set); attempts after
    2n failures (n if no escalateModel) go to `fallbackAgent` (if set).
    """

    escalate_after: int = Field(default=1, ge=1)
    fallback_agent: str | None = None
    escalate_model: str | None = None


class Task(WireModel):
    """A unit of work with a clear deliverable, an agent, and an assessment (seed 002 request body)."""

    title: str = Field(min_length=1, max_length=200)
    description: str = ""
    assign_to: str = Field(min_length=1)
    depends_on: list[str] = Field(default_factory=list)
    expectations: list[Expectation] = Field(default_factory=list)
    expected_outcomes: list[ExpectedOutcome] = Field(default_factory=list)
    max_retries: int = Field(default=DEFAULT_MAX_RETRIES, ge=0, le=100)
    priority: int | float = 0
    side_effects: bool = False
    max_duration: float | None = Field(default=None, gt=0, description="Milliseconds per attempt.")
    retry_policy: RetryPolicy | None = None

    @field_validator("expectations", mode="before")
    @classmethod
    def _strings_are_criteria(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return [{"criterion": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("depends_on")
    @classmethod
    def _unique_dependencies(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


#: Fields of a task a PATCH may change. Runtime fields (status, result, ...) change only through the engine.
TASK_SPEC_FIELDS = frozenset(Task.model_fields)


class TaskRecord(Task):
    """A task as stored and served: its definition plus the engine's runtime fields."""

    user_built: ClassVar[bool] = False

    id: str
    mission_id: str | None = None
    group: str | None = Field(default=None, description="The mission's name, for `?group=` filters.")
    status: TaskStatus = TaskStatus.DRAFT
    phase: Phase | None = None
    retries: int = 0
    result: TaskResult | None = None
    assessment: Assessment | None = None
    feedback: str | None = Field(default=None, description="The last failed assessment's feedback (fix phase).")
    seq: int = Field(default=0, description="Creation order, the tie-break after priority.")
    created_at: str | None = None
    updated_at: str | None = None

    def to_wire(self, **kw: Any) -> dict[str, Any]:
        data = super().to_wire(**kw)
        data.setdefault("phase", None)  # seed 002 always shows the phase, null when idle
        return data

    @property
    def spec(self) -> Task:
        return Task.model_validate(self.model_dump(include=set(TASK_SPEC_FIELDS)))
