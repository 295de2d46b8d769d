"""The LLM judge: a criterion scored 1-5 with feedback through a structured-output model call.

The judge reads the task, the criterion (with its weighted dimensions for `llm_review`), the agent's
answer and the files it produced. With several reviewers the calls run concurrently and the score is
their median; from three reviewers on, a score more than 1.5 from the median is dropped as an outlier
before the median is taken again. A judge that cannot be reached or keeps answering out of shape is
an AssessmentConfigError: the agent's work was not judged, so it must not count as a failed attempt.
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from pydantic_ai import Agent, ModelRetry
from pydantic_ai.models import Model
from pydantic_ai.models.test import TestModel

from ..errors import PolpoError
from ..sandbox import SandboxError, resolve_in_project
from ..spec import CriterionExpectation, CriterionScore, LlmReviewExpectation
from ..usage.meter import metered
from .judges import AssessmentConfigError, JudgeRequest, expectation_kind

__all__ = ["CriterionVerdict", "LlmJudge", "ReviewVerdict", "combine_scores"]

OUTLIER_DISTANCE = 1.5
_ANSWER_CHARS = 8000
_FILE_CHARS = 6000
_FILES_CHARS = 24_000

_INSTRUCTIONS = """You are a strict, fair reviewer of work done by an AI agent on a task.
Score how well the work meets the criterion on a scale of 1 to 5:
1 = not met at all or missing, 2 = attempted but clearly inadequate, 3 = acceptable with notable gaps,
4 = good with minor issues, 5 = fully met.
Judge only what is shown (the answer and the files); a deliverable that is described but absent does not count.
Feedback must be concrete and actionable: what is missing or wrong and how to fix it; then what is good."""


class CriterionVerdict(BaseModel):
    score: float = Field(ge=1, le=5, description="1 (not met) to 5 (fully met)")
    feedback: str = Field(description="Concrete, actionable: what is missing or wrong, then what is good.")


class DimensionVerdict(BaseModel):
    name: str = Field(description="The dimension's name, exactly as given.")
    score: float = Field(ge=1, le=5)
    feedback: str = ""


class ReviewVerdict(BaseModel):
    dimensions: list[DimensionVerdict] = Field(description="One verdict per dimension, every dimension once.")
    feedback: str = Field(description="Overall feedback: what to fix first.")


def combine_scores(scores: list[float]) -> tuple[float, list[int]]:
    """(final score, indices of the scores kept): the median, after dropping outliers when n >= 3."""
    middle = statistics.median(scores)
    kept = [i for i, s in enumerate(scores) if len(scores) < 3 or abs(s - middle) <= OUTLIER_DISTANCE]
    return round(float(statistics.median([scores[i] for i in kept])), 2), kept


class LlmJudge:
    """A Judge on one model. `model` may be a callable building it, so a judge that is never asked
    (no criterion on the task) never needs its provider's key."""

    def __init__(self, model: Model | Callable[[], Model], *, model_name: str, reviewers: int = 1) -> None:
        if reviewers < 1:
            raise ValueError("reviewers must be >= 1")
        self._model = model
        self.model_name = model_name
        self.reviewers = reviewers

    def __repr__(self) -> str:
        return f"LlmJudge({self.model_name!r}, reviewers={self.reviewers})"

    def _resolve(self) -> Model:
        if isinstance(self._model, Model):
            return self._model
        try:
            return self._model()
        except PolpoError as exc:
            raise AssessmentConfigError(f"judge model {self.model_name!r} is unavailable: {exc.message}") from None

    async def score(self, request: JudgeRequest) -> CriterionScore:
        model = self._resolve()
        verdicts = await asyncio.gather(*(self._review(model, request) for _ in range(self.reviewers)))
        scores = [score for score, _ in verdicts]
        final, kept = combine_scores(scores)
        if len(verdicts) == 1:
            feedback = verdicts[0][1]
        else:
            lines = [f"Reviewer {i + 1} ({scores[i]:g}/5): {verdicts[i][1]}" for i in kept]
            dropped = [f"{scores[i]:g}" for i in range(len(scores)) if i not in kept]
            if dropped:
                lines.append(f"(outlier score{'s' if len(dropped) > 1 else ''} dropped: {', '.join(dropped)})")
            feedback = "\n".join(lines)
        return CriterionScore(criterion=request.expectation.criterion, kind=expectation_kind(request.expectation),
                              score=final, feedback=feedback)

    async def _review(self, model: Model, request: JudgeRequest) -> tuple[float, str]:
        expectation = request.expectation
        prompt = _prompt(request)
        if isinstance(model, TestModel):
            model = _placeholder_reviewer(expectation)
        model = metered(model, self.model_name)  # the judge's calls are counted as the judge's
        try:
            if isinstance(expectation, LlmReviewExpectation) and expectation.dimensions:
                weights = {d.name: d.weight for d in expectation.dimensions}
                review: Agent[None, ReviewVerdict] = Agent(model, output_type=ReviewVerdict, instructions=_INSTRUCTIONS,
                                                           defer_model_check=True)

                @review.output_validator
                def _every_dimension(verdict: ReviewVerdict) -> ReviewVerdict:
                    missing = set(weights) - {d.name for d in verdict.dimensions}
                    if missing:
                        raise ModelRetry(f"score every dimension; missing: {', '.join(sorted(missing))}")
                    return verdict

                verdict = (await review.run(prompt)).output
                by_name = {d.name: d for d in verdict.dimensions if d.name in weights}
                total = sum(weights.values())
                score = sum(by_name[n].score * w for n, w in weights.items()) / total
                details = "; ".join(f"{n} {by_name[n].score:g}/5" + (f": {by_name[n].feedback}" if by_name[n].feedback else "")
                                    for n in weights)
                return round(score, 2), f"{verdict.feedback}\n({details})"
            judge: Agent[None, CriterionVerdict] = Agent(model, output_type=CriterionVerdict, instructions=_INSTRUCTIONS,
                                                         defer_model_check=True)
            verdict_1 = (await judge.run(prompt)).output
            return verdict_1.score, verdict_1.feedback
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - provider errors, answers that never fit the schema
            raise AssessmentConfigError(
                f"judge model {self.model_name!r} failed on criterion {expectation.criterion!r}: "
                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", judge=self.model_name,
            ) from None


def _placeholder_reviewer(expectation: CriterionExpectation | LlmReviewExpectation) -> TestModel:
    """On pydantic-ai's TestModel (model `test`) nobody reads the work: answer a fixed passing verdict so an
    offline dry run of a mission goes through review, instead of TestModel's schema-minimal score of 1."""
    note = "TestModel placeholder verdict: the work was not reviewed"
    args: dict[str, Any]
    if isinstance(expectation, LlmReviewExpectation) and expectation.dimensions:
        args = {"dimensions": [{"name": d.name, "score": 5, "feedback": ""} for d in expectation.dimensions],
                "feedback": note}
    else:
        args = {"score": 5, "feedback": note}
    return TestModel(custom_output_args=args)


def _prompt(request: JudgeRequest) -> str:
    task, result, expectation = request.task, request.result, request.expectation
    parts = [f"## Task: {task.title}\n{task.description or task.title}", f"## Criterion\n{expectation.criterion}"]
    if isinstance(expectation, LlmReviewExpectation) and expectation.dimensions:
        lines = [f"- {d.name} (weight {d.weight:g})" + (f": {d.rubric}" if d.rubric else "") for d in expectation.dimensions]
        parts.append("## Dimensions (score each 1-5)\n" + "\n".join(lines))
    answer = result.content.strip() or "(no text answer)"
    parts.append(f"## The agent's answer\n{_cut(answer, _ANSWER_CHARS)}")
    if result.files_created:
        parts.append("## Files the agent produced\n" + _files(request.project_dir, result.files_created))
    if result.error:
        parts.append(f"## The attempt's error\n{_cut(result.error, 2000)}")
    return "\n\n".join(parts)


def _files(root: Path, paths: list[str]) -> str:
    blocks, budget = [], _FILES_CHARS
    for path in paths:
        try:
            found = resolve_in_project(root, path)
        except SandboxError as exc:
            blocks.append(f"### {path}\n({exc.message})")
            continue
        if not found.is_file():
            blocks.append(f"### {path}\n(missing)")
            continue
        data = found.read_bytes()
        if b"\x00" in data[:8192]:
            blocks.append(f"### {path}\n(binary, {len(data)} bytes)")
            continue
        if budget <= 0:
            blocks.append(f"### {path}\n({len(data)} bytes, not shown: too much to show)")
            continue
        text = _cut(data.decode("utf-8", errors="replace"), min(_FILE_CHARS, budget))
        budget -= len(text)
        blocks.append(f"### {path}\n```\n{text}\n```")
    return "\n\n".join(blocks)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"\n...[cut at {limit} of {len(text)} characters]"
