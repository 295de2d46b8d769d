"""The pydantic models of every concept: the JSON of the API, of mission files and of the store."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ..errors import SpecError
from ._base import WireModel, to_jsonable, utcnow
from .agent import Agent, Team
from .config import ProjectConfig, ProviderConfig
from .expectations import (
    CriterionExpectation,
    Expectation,
    ExpectedOutcome,
    FileExistsExpectation,
    LlmReviewExpectation,
    MetricsExpectation,
    ReviewDimension,
    ScriptExpectation,
    TestExpectation,
)
from .files import FileEntry, FileListing, FilePreview
from .messages import explain
from .mission import Checkpoint, Delay, Mission, MissionRecord, QualityGate
from .results import Assessment, CheckResult, CriterionScore, TaskResult, Usage
from .status import MissionStatus, Phase, TaskStatus
from .task import RetryPolicy, Task, TaskRecord

W = TypeVar("W", bound=WireModel)


def spec_error(exc: ValidationError, prefix: tuple[str | int, ...] = (),
               model: type[BaseModel] | None = None) -> SpecError:
    """A pydantic error as our SpecError: camelCase field paths, including the precise path of graph
    problems (which pydantic would otherwise report at the model's root), and, given the model that
    validated, messages in the user's terms (`messages.explain`: unknown keys with a suggestion, ranges)."""
    errors: list[dict[str, Any]] = []
    for err in exc.errors():
        own_loc, msg = explain(model, dict(err))
        loc = [*prefix, *own_loc]
        ctx = err.get("ctx") or {}
        if err["type"] == "mission_graph":
            loc = [*loc, *(int(p) if p.isdigit() else p for p in ctx["path"].split("."))]
            msg = ctx["message"]
        errors.append({"loc": loc, "msg": msg})
    return SpecError(errors)


def parse(model: type[W], data: Any, *, prefix: tuple[str | int, ...] = ()) -> W:
    """`model.model_validate(data)` raising SpecError, the one exception type for invalid input."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise spec_error(exc, prefix, model) from None


__all__ = [
    "FileEntry", "FileListing", "FilePreview",
    "to_jsonable",
    "Agent", "Assessment", "CheckResult", "Checkpoint", "Delay", "CriterionExpectation", "CriterionScore",
    "Expectation", "ExpectedOutcome", "FileExistsExpectation", "LlmReviewExpectation", "MetricsExpectation",
    "Mission", "MissionRecord", "MissionStatus", "Phase", "ProjectConfig", "ProviderConfig", "QualityGate",
    "RetryPolicy", "ReviewDimension", "ScriptExpectation", "Task", "TaskRecord", "TaskResult", "TaskStatus",
    "Team", "TestExpectation", "Usage", "WireModel", "parse", "spec_error", "utcnow",
]
