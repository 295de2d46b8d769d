"""What a task's result is checked against.

Expectations are scored 1-5 (by a judge or by a typed check), expected outcomes are pass/fail checks of
the deliverables. The criterion form `{"criterion": "..."}` is the seeds'; the typed forms are ours
(ARCHITECTURE.md §2). A bare string in Python is shorthand for a criterion.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, ValidationInfo, model_validator
from pydantic_core import PydanticCustomError

from ._base import WireModel
from .validation import is_stored


class CriterionExpectation(WireModel):
    """Judged 1-5 by the project's judge (an LLM judge or a function judge)."""

    criterion: str = Field(min_length=1)


class ReviewDimension(WireModel):
    name: str = Field(min_length=1)
    weight: float = Field(default=1.0, gt=0)
    rubric: str = ""


class LlmReviewExpectation(WireModel):
    """A criterion judged along weighted dimensions; the score is the weighted mean."""

    type: Literal["llm_review"]
    criterion: str = Field(min_length=1)
    dimensions: list[ReviewDimension] = Field(default_factory=list)

    @model_validator(mode="after")
    def _names_each_dimension_once(self, info: ValidationInfo) -> LlmReviewExpectation:
        """The judge scores the dimensions by name: two of one name would be one score with one weight."""
        seen: set[str] = set()
        for index, dimension in enumerate(self.dimensions):
            name = dimension.name.strip()
            if name in seen and not is_stored(info):
                raise PydanticCustomError("mission_graph", "{message}", {
                    "path": f"dimensions.{index}.name",
                    "message": f"dimension {name!r} is named twice: give each dimension its own name"})
            seen.add(name)
        return self


class _CommandCheck(WireModel):
    timeout: float = Field(default=300.0, gt=0, description="Seconds before the command is killed.")


class TestExpectation(_CommandCheck):
    """A test command: exit code 0 scores 5, anything else 1."""

    __test__ = False  # not a pytest class
    type: Literal["test"]
    command: str = Field(min_length=1)


class ScriptExpectation(_CommandCheck):
    """A shell script run in the project directory: exit code 0 scores 5, anything else 1."""

    type: Literal["script"]
    script: str = Field(min_length=1)


class MetricsExpectation(_CommandCheck):
    """A command whose last stdout line is a number; at or above `threshold` scores 5, below scores 1."""

    type: Literal["metrics"]
    command: str = Field(min_length=1)
    threshold: float


class FileExistsExpectation(WireModel):
    """Every path exists under the project and is non-empty: 5, otherwise 1."""

    type: Literal["file_exists"]
    paths: list[str] = Field(min_length=1)


def _expectation_kind(value: Any) -> str | None:
    """The union's tag: an expectation without a `type` is a criterion (a bad `type` is reported by pydantic)."""
    kind: str | None = value.get("type", "criterion") if isinstance(value, dict) else getattr(value, "type", "criterion")
    return kind


Expectation = Annotated[
    Annotated[CriterionExpectation, Tag("criterion")]
    | Annotated[LlmReviewExpectation, Tag("llm_review")]
    | Annotated[TestExpectation, Tag("test")]
    | Annotated[ScriptExpectation, Tag("script")]
    | Annotated[MetricsExpectation, Tag("metrics")]
    | Annotated[FileExistsExpectation, Tag("file_exists")],
    Discriminator(_expectation_kind),
]


class ExpectedOutcome(WireModel):
    """A declared deliverable (seed 002: file, text, url, json, media), checked deterministically."""

    type: Literal["file", "text", "url", "json", "media"]
    path: str | None = Field(default=None, description="Project-relative path of a file deliverable.")
    url: str | None = None
    label: str | None = None
    description: str | None = None
    media_type: str | None = Field(default=None, description="Expected MIME type of a media file, e.g. image/png.")
    reachable: bool = Field(default=False, description="For url outcomes: also check the URL answers.")

    @model_validator(mode="after")
    def _names_its_file(self, info: ValidationInfo) -> ExpectedOutcome:
        """A file or media deliverable is a file: without its path every check of it could only fail.
        (Outcomes stored before this was refused still read; their check says what is missing.)"""
        if self.type in ("file", "media") and not self.path and not is_stored(info):
            raise PydanticCustomError("mission_graph", "{message}", {
                "path": "path", "message": f"a {self.type} outcome names the file the task must produce (`path`)"})
        return self
