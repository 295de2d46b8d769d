"""Judges: who scores the criteria a program cannot check.

A judge is anything with `async score(request) -> CriterionScore`: the project's LLM judge (built by the
agents package from `judgeModel`) or a plain Python function wrapped in FunctionJudge, which makes
assessment deterministic in tests and useful without any model.
"""

from __future__ import annotations

import asyncio
import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ..errors import PolpoError
from ..spec import CriterionExpectation, CriterionScore, LlmReviewExpectation, TaskRecord, TaskResult

__all__ = ["AssessmentConfigError", "FunctionJudge", "Judge", "JudgeRequest", "JudgeFunction"]


class AssessmentConfigError(PolpoError):
    """The assessment cannot be made as configured (no judge for a criterion, a judge misbehaving).
    Distinct from a failed assessment: retrying the agent would not help, fixing the setup would."""

    code = "BAD_REQUEST"


@dataclass(frozen=True)
class JudgeRequest:
    """Everything a judge may look at: the criterion, the task it belongs to, the attempt's result, and
    the project directory (to read the files the agent produced)."""

    expectation: CriterionExpectation | LlmReviewExpectation
    task: TaskRecord
    result: TaskResult
    project_dir: Path


@runtime_checkable
class Judge(Protocol):
    async def score(self, request: JudgeRequest) -> CriterionScore: ...


#: `(expectation, task, result) -> verdict`, sync or async; see FunctionJudge for the verdict forms.
JudgeFunction = Callable[[CriterionExpectation | LlmReviewExpectation, TaskRecord, TaskResult], Any]


def expectation_kind(expectation: CriterionExpectation | LlmReviewExpectation) -> str:
    return "llm_review" if isinstance(expectation, LlmReviewExpectation) else "criterion"


class FunctionJudge:
    """Wraps a sync or async callable `(expectation, task, result) -> float | int | tuple[float, str] |
    dict | CriterionScore`.

    Sync callables run off the event loop (asyncio.to_thread) so a slow judge cannot stall the engine.
    A dict is {"score": ..., "feedback": ...}. Scores outside 1-5 raise AssessmentConfigError naming the
    judge: a judge on the wrong scale is a setup bug, not a verdict on the agent's work.
    """

    def __init__(self, fn: JudgeFunction, name: str | None = None) -> None:
        self.fn = fn
        self.name = name or getattr(fn, "__name__", None) or repr(fn)

    def __repr__(self) -> str:
        return f"FunctionJudge({self.name!r})"

    async def score(self, request: JudgeRequest) -> CriterionScore:
        args = (request.expectation, request.task, request.result)
        if inspect.iscoroutinefunction(self.fn):
            verdict = await self.fn(*args)
        else:
            verdict = await asyncio.to_thread(self.fn, *args)
            if inspect.isawaitable(verdict):  # a partial or lambda around an async function
                verdict = await verdict
        return self._coerce(verdict, request.expectation)

    def _coerce(self, verdict: Any, expectation: CriterionExpectation | LlmReviewExpectation) -> CriterionScore:
        feedback: Any = ""
        if isinstance(verdict, CriterionScore):
            value, feedback = verdict.score, verdict.feedback
        elif isinstance(verdict, Mapping):
            if "score" not in verdict:
                raise self._error(f"returned a dict without 'score' ({sorted(verdict)})", expectation)
            value, feedback = verdict["score"], verdict.get("feedback", "")
        elif isinstance(verdict, tuple):
            if len(verdict) != 2:
                raise self._error(f"returned a tuple of {len(verdict)} items, expected (score, feedback)",
                                  expectation)
            value, feedback = verdict
        else:
            value = verdict
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._error(f"returned {type(value).__name__} {value!r}, expected a number 1-5", expectation)
        if math.isnan(value) or not 1 <= value <= 5:
            raise self._error(f"returned score {value!r}: scores must be between 1 and 5", expectation)
        return CriterionScore(
            criterion=expectation.criterion,
            kind=expectation_kind(expectation),
            score=float(value),
            feedback="" if feedback is None else str(feedback),
        )

    def _error(self, problem: str, expectation: CriterionExpectation | LlmReviewExpectation) -> AssessmentConfigError:
        return AssessmentConfigError(
            f"judge {self.name!r} {problem} (criterion: {expectation.criterion!r})", judge=self.name
        )
