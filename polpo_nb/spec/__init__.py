"""The pydantic models of every concept: the JSON of the API, of mission files and of the store."""

from __future__ import annotations

from ._base import StrictScalars, WireModel, share_given_fields, share_keys, to_jsonable, utcnow
from .agent import Agent, Team
from .budget import Budget
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
from .mission import Checkpoint, Delay, Mission, MissionRecord, QualityGate
from .results import Assessment, CheckResult, CriterionScore, TaskResult, Usage
from .status import MissionStatus, Phase, TaskStatus
from .task import RetryPolicy, Task, TaskRecord
from .validation import parse, spec_error, validated_copy

__all__ = [
    "FileEntry", "FileListing", "FilePreview",
    "to_jsonable", "share_given_fields", "share_keys",
    "Agent", "Assessment", "Budget", "CheckResult", "Checkpoint", "Delay", "CriterionExpectation", "CriterionScore",
    "Expectation", "ExpectedOutcome", "FileExistsExpectation", "LlmReviewExpectation", "MetricsExpectation",
    "Mission", "MissionRecord", "MissionStatus", "Phase", "ProjectConfig", "ProviderConfig", "QualityGate",
    "RetryPolicy", "ReviewDimension", "ScriptExpectation", "Task", "TaskRecord", "TaskResult", "TaskStatus",
    "StrictScalars", "Team", "TestExpectation", "Usage", "WireModel", "parse", "spec_error", "utcnow", "validated_copy",
]
