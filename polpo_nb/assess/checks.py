"""Typed expectations scored without a judge: test, script, metrics and file_exists.

They are all-or-nothing (5 or 1): a test suite that fails is not "2 out of 5 good". The feedback is
what the agent reads in its fix phase, so it says what ran, how it ended and shows the end of the output.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

from ..spec import (
    CriterionScore,
    FileExistsExpectation,
    MetricsExpectation,
    ScriptExpectation,
    TestExpectation,
)
from .commands import CommandRun, run_shell, tail
from .outcomes import deliverable_problem

__all__ = ["TypedExpectation", "describe", "score_typed"]

TypedExpectation = TestExpectation | ScriptExpectation | MetricsExpectation | FileExistsExpectation

PASS, FAIL = 5.0, 1.0
_LABEL_CHARS = 120


def _short(text: str, limit: int = _LABEL_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe(expectation: TypedExpectation) -> str:
    """The `criterion` of a typed check's score: a label a human recognises in a list of criteria."""
    match expectation:
        case TestExpectation():
            return f"test: {_short(expectation.command)}"
        case ScriptExpectation():
            first = next((ln for ln in expectation.script.splitlines() if ln.strip()), expectation.script)
            more = " ..." if len(expectation.script.strip().splitlines()) > 1 else ""
            return f"script: {_short(first)}{more}"
        case MetricsExpectation():
            return f"metrics: {_short(expectation.command)} >= {expectation.threshold:g}"
        case FileExistsExpectation():
            return f"file_exists: {_short(', '.join(expectation.paths))}"
    raise TypeError(f"not a typed expectation: {type(expectation).__name__}")


def _timeout(expectation: TestExpectation | ScriptExpectation | MetricsExpectation, cap: float | None) -> float:
    return min(expectation.timeout, cap) if cap is not None else expectation.timeout


def _output_block(run: CommandRun) -> str:
    text = tail(run.output)
    return f"\nOutput (end):\n{text}" if text else "\nNo output."


def _unfinished(run: CommandRun, what: str) -> str | None:
    """Feedback for a command that did not run to completion, or None if it did."""
    if run.start_error:
        return f"{what} could not be started: {run.start_error}"
    if run.timed_out:
        return (f"{what} timed out after {run.timeout:g} s and was killed; it must finish within "
                f"{run.timeout:g} s.{_output_block(run)}")
    return None


async def _score_exit_code(expectation: TestExpectation | ScriptExpectation, project_dir: Path,
                           command_timeout: float | None) -> CriterionScore:
    label = describe(expectation)
    source = expectation.command if isinstance(expectation, TestExpectation) else expectation.script
    what = f"`{_short(source)}`" if isinstance(expectation, TestExpectation) else "the script"
    run = await run_shell(source, cwd=project_dir, timeout=_timeout(expectation, command_timeout))
    if (problem := _unfinished(run, what)) is not None:
        return CriterionScore(criterion=label, kind=expectation.type, score=FAIL, feedback=problem)
    if run.ok:
        feedback = f"{what} passed (exit code 0).{_output_block(run)}"
        return CriterionScore(criterion=label, kind=expectation.type, score=PASS, feedback=feedback)
    feedback = f"{what} failed with exit code {run.exit_code}; it must exit with 0.{_output_block(run)}"
    return CriterionScore(criterion=label, kind=expectation.type, score=FAIL, feedback=feedback)


def _last_line(text: str) -> str | None:
    return next((ln.strip() for ln in reversed(text.splitlines()) if ln.strip()), None)


async def _score_metrics(expectation: MetricsExpectation, project_dir: Path,
                         command_timeout: float | None) -> CriterionScore:
    label = describe(expectation)
    what = f"metrics command `{_short(expectation.command)}`"
    run = await run_shell(expectation.command, cwd=project_dir, timeout=_timeout(expectation, command_timeout),
                          merge_stderr=False)

    def result(score: float, feedback: str) -> CriterionScore:
        return CriterionScore(criterion=label, kind="metrics", score=score, feedback=feedback)

    if (problem := _unfinished(run, what)) is not None:
        return result(FAIL, problem)
    if not run.ok:  # a crashed evaluation may still have printed a stale number
        return result(FAIL, f"{what} failed with exit code {run.exit_code}.{_output_block(run)}")
    line = _last_line(run.stdout)
    if line is None:
        return result(FAIL, f"{what} printed nothing on stdout; its last line must be the metric (a number)."
                      f"{_output_block(run)}")
    try:
        value = float(line)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        return result(FAIL, f"{what}: the last line of stdout, {_short(line, 80)!r}, is not a finite number; "
                      f"the command must print the metric as its last line.{_output_block(run)}")
    if value >= expectation.threshold:
        return result(PASS, f"{what} reported {value:g}, at or above the threshold {expectation.threshold:g}.")
    return result(FAIL, f"{what} reported {value:g}, below the threshold {expectation.threshold:g}."
                  f"{_output_block(run)}")


def _file_problems(expectation: FileExistsExpectation, project_dir: Path) -> list[str]:
    problems = []
    for path in expectation.paths:
        try:
            problem = deliverable_problem(project_dir, path)
        except OSError as exc:
            problem = f"{path} could not be read: {exc.strerror or exc}"
        if problem:
            problems.append(problem)
    return problems


async def _score_file_exists(expectation: FileExistsExpectation, project_dir: Path) -> CriterionScore:
    label = describe(expectation)
    problems = await asyncio.to_thread(_file_problems, expectation, project_dir)
    if problems:
        feedback = f"{len(problems)} of {len(expectation.paths)} required paths missing or unusable:\n" + "\n".join(
            f"- {p}" for p in problems)
        return CriterionScore(criterion=label, kind="file_exists", score=FAIL, feedback=feedback)
    feedback = f"all {len(expectation.paths)} required paths exist and are not empty."
    return CriterionScore(criterion=label, kind="file_exists", score=PASS, feedback=feedback)


async def score_typed(expectation: TypedExpectation, project_dir: Path,
                      command_timeout: float | None = None) -> CriterionScore:
    """Score one typed expectation; `command_timeout` caps (never extends) the expectation's own timeout."""
    match expectation:
        case TestExpectation() | ScriptExpectation():
            return await _score_exit_code(expectation, project_dir, command_timeout)
        case MetricsExpectation():
            return await _score_metrics(expectation, project_dir, command_timeout)
        case FileExistsExpectation():
            return await _score_file_exists(expectation, project_dir)
    raise TypeError(f"not a typed expectation: {type(expectation).__name__}")
