"""The assessment of one attempt: expectations scored, outcomes checked, one verdict (ARCHITECTURE.md §2).

Independent checks run concurrently (a slow test suite and an LLM judge overlap) but the Assessment
lists them in declaration order, so the same task always reads the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import TypeVar

from ..spec import (
    Assessment,
    CheckResult,
    CriterionExpectation,
    CriterionScore,
    LlmReviewExpectation,
    TaskRecord,
    TaskResult,
    utcnow,
)
from .checks import score_typed
from .judges import AssessmentConfigError, Judge, JudgeRequest, expectation_kind
from .outcomes import check_outcome

__all__ = ["assess"]

T = TypeVar("T")

_JUDGED = (CriterionExpectation, LlmReviewExpectation)


async def _in_order(awaitables: Sequence[Awaitable[T]]) -> list[T]:
    """asyncio.gather that cancels the siblings when one fails (or we are cancelled), so a judge error
    does not leave a test suite running unobserved in the background."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def _judge(judge: Judge, request: JudgeRequest) -> CriterionScore:
    verdict = await judge.score(request)
    if not isinstance(verdict, CriterionScore):
        raise AssessmentConfigError(
            f"judge {judge!r} returned {type(verdict).__name__}, expected a CriterionScore"
        )
    if not verdict.criterion:  # a custom judge may leave the label to us
        verdict = verdict.model_copy(update={"criterion": request.expectation.criterion,
                                             "kind": expectation_kind(request.expectation)})
    return verdict


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" if line else "" for line in text.splitlines())


def _feedback(score: float | None, threshold: float, passed: bool,
              checks: list[CheckResult], criteria: list[CriterionScore]) -> str:
    """The text the agent reads in its fix phase: the verdict first, then what failed and why, then the
    rest, so the actionable part is never buried under the things that went well."""
    failed = [c for c in checks if not c.passed]
    verdict = []
    if score is not None:
        verdict.append(f"score {score:g} {'>=' if score >= threshold else '<'} threshold {threshold:g}")
    if checks:
        verdict.append(f"{len(failed)} of {len(checks)} outcome checks failed" if failed
                       else f"all {len(checks)} outcome checks passed")
    lines = [f"Assessment {'passed' if passed else 'failed'}" + (f": {'; '.join(verdict)}." if verdict else ".")]
    if failed:
        lines.append("Failed outcome checks:")
        lines += [f"- {c.type} {c.target}: {c.message}" if c.target else f"- {c.type}: {c.message}" for c in failed]
    weak = [c for c in criteria if c.score < threshold]
    strong = [c for c in criteria if c.score >= threshold]
    for title, group in (("Criteria below the threshold:", weak), ("Criteria met:", strong)):
        if group:
            lines.append(title)
            for c in group:
                lines.append(f"- [{c.score:g}/5] {c.criterion}")
                if c.feedback:
                    lines.append(_indent(c.feedback))
    return "\n".join(lines)


async def assess(task: TaskRecord, result: TaskResult, *, project_dir: Path, threshold: float,
                 judge: Judge | None = None, command_timeout: float | None = None) -> Assessment:
    """Assess one attempt of `task`. Raises AssessmentConfigError before running anything when a
    criterion needs a judge and none is configured: that is a setup error, not a failed attempt."""
    if not task.expectations and not task.expected_outcomes:  # the common no-op case stays off the disk
        return Assessment(passed=True, feedback="Assessment passed: nothing to check.", threshold=threshold,
                          timestamp=utcnow())
    project_dir = Path(project_dir).resolve()
    if judge is None and any(isinstance(e, _JUDGED) for e in task.expectations):
        raise AssessmentConfigError(
            f"task {task.title!r} has criterion expectations but no judge is configured: "
            "register one with @project.judge or set judgeModel",
            task_id=task.id,
        )

    scorers: list[Awaitable[CriterionScore | CheckResult]] = []
    for expectation in task.expectations:
        if isinstance(expectation, _JUDGED):
            assert judge is not None
            request = JudgeRequest(expectation=expectation, task=task, result=result, project_dir=project_dir)
            scorers.append(_judge(judge, request))
        else:
            scorers.append(score_typed(expectation, project_dir, command_timeout))
    checkers: list[Awaitable[CriterionScore | CheckResult]] = [check_outcome(outcome, result, project_dir) for outcome in task.expected_outcomes]

    done: list[CriterionScore | CheckResult] = await _in_order([*scorers, *checkers])
    criteria = [d for d in done if isinstance(d, CriterionScore)]
    checks = [d for d in done if isinstance(d, CheckResult)]

    score = round(sum(c.score for c in criteria) / len(criteria), 2) if criteria else None
    passed = all(c.passed for c in checks) and (score is None or score >= threshold)
    return Assessment(
        score=score,
        passed=passed,
        feedback=_feedback(score, threshold, passed, checks, criteria),
        checks=checks,
        criteria=criteria,
        threshold=threshold,
        timestamp=utcnow(),
    )
