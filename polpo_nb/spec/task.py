"""Tasks: the definition a user writes (`Task`) and the stored resource the API returns (`TaskRecord`)."""

from __future__ import annotations

import json
import keyword
from pathlib import PurePosixPath
from typing import Any, ClassVar

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ._base import WireModel
from .expectations import Expectation, ExpectedOutcome
from .results import Assessment, TaskResult
from .status import Phase, TaskStatus
from .validation import is_stored

#: The variables a notebook task's injected cell sets besides its parameters (agents/notebook.py).
NOTEBOOK_VARIABLES = frozenset({"polpo_upstream", "polpo_feedback"})

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
    """A unit of work with a clear deliverable, an agent (or a notebook), and an assessment (seed 002 request body)."""

    title: str = Field(min_length=1, max_length=200)
    description: str = ""
    assign_to: str = Field(default="", description="The agent that plays the task. Required unless `notebook` is "
                           "set; a notebook task may still name one, for display (it defaults to the notebook's path).")
    notebook: str | None = Field(default=None, description="A project-relative `.ipynb` path: the task's body is this "
                                 "notebook, run in a fresh kernel (see `parameters`).")
    parameters: dict[str, Any] | None = Field(default=None, description="A notebook task's parameters (a JSON "
                                              "object), injected as variables after the cell tagged `parameters`.")
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
    def _unique_dependencies(cls, value: list[str], info: ValidationInfo) -> list[str]:
        """Each once; never the task itself (standalone, run alone, it waited for itself for ever), unless
        an earlier version stored it so (a run then ignores that edge: `Run.rebuild_counters`)."""
        title = info.data.get("title")
        if title in value and not is_stored(info):
            raise _invalid(f"task {title!r} depends on itself")
        return list(dict.fromkeys(value))

    @field_validator("notebook")
    @classmethod
    def _project_relative_notebook(cls, value: str | None) -> str | None:
        """Syntax only (a relative `.ipynb` path, no `..`): where it lands is checked against the project
        (symlinks, existence) by the registry before a run and by the notebook runtime when it starts."""
        if value is None:
            return None
        path = PurePosixPath(value.replace("\\", "/"))
        if not value.strip() or "\x00" in value or path.is_absolute() or ".." in path.parts:
            raise _invalid(f"notebook {value!r} must be a path inside the project, relative to it, without '..'")
        if path.suffix != ".ipynb":
            raise _invalid(f"notebook {value!r} must be a .ipynb file")
        return value

    @field_validator("parameters")
    @classmethod
    def _parameter_names(cls, value: dict[str, Any] | None, info: ValidationInfo) -> dict[str, Any] | None:
        """Each parameter becomes a variable in the notebook, so its name must be one, and not one of the
        variables polpo's injected cell sets after them (a parameter of that name was overwritten unseen)."""
        for name, item in (value or {}).items():
            if not name.isidentifier() or keyword.iskeyword(name):
                raise _invalid(f"parameter name {name!r} is not a valid Python variable name")
            if name in NOTEBOOK_VARIABLES and not is_stored(info):
                raise _invalid(f"parameter name {name!r} is polpo's own: the notebook gets {name} from polpo "
                               f"(README: Notebooks as tasks); name the parameter otherwise")
            try:  # injected as a literal and stored as JSON: nothing else would survive either way
                json.dumps(item, allow_nan=False)
            except (TypeError, ValueError):
                raise _invalid(f"parameter {name!r} is not a JSON value (str, number, bool, None, list or dict "
                               f"of those): {type(item).__name__}") from None
        return value

    @model_validator(mode="after")
    def _body(self) -> Task:
        """Who plays the task: an agent (`assignTo`), or a notebook (then `assignTo` is only a label)."""
        if not self.assign_to:
            if self.notebook is None:
                raise PydanticCustomError("mission_graph", "{message}", {
                    "path": "assignTo", "message": "a task needs an agent (assignTo) or a notebook"})
            self.assign_to = self.notebook
        if self.parameters is not None and self.notebook is None:
            raise PydanticCustomError("mission_graph", "{message}", {
                "path": "parameters", "message": "parameters are for notebook tasks: set `notebook` too"})
        return self


def _invalid(message: str) -> PydanticCustomError:
    """A field's error with exactly `message` (a ValueError would read "Value error, ...")."""
    return PydanticCustomError("invalid_task_field", "{message}", {"message": message})


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

    def has_spec(self, spec: Task) -> bool:
        """Whether this task is defined as `spec`: `self.spec == spec` without building the spec (a dump
        and a validation per task, most of saving an unchanged mission of many tasks again)."""
        return all(getattr(self, name) == getattr(spec, name) for name in TASK_SPEC_FIELDS)
