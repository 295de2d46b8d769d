"""What an LLM agent is told: its standing instructions and the prompt of one attempt.

The instructions say who the agent is and how it works (tools, paths, how to finish). The prompt holds
the work: the mission, its data, the project memory, what upstream tasks produced, the task, what the
assessment will look at, and in the fix phase the assessment's feedback. Each section appears only when
it has content, and long inputs are cut, so a prompt stays readable in the transcript.
"""

from __future__ import annotations

import json
from typing import Any

from ..spec import CriterionExpectation, LlmReviewExpectation, TaskRecord, TaskResult
from .context import AgentContext

__all__ = ["fix_prompt", "instructions", "task_prompt"]

_UPSTREAM_CHARS = 4000
_DATA_CHARS = 8000
_MEMORY_CHARS = 8000


def _cut(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + f"\n...[cut at {limit} of {len(text)} characters]"


def instructions(ctx: AgentContext, tools: list[str]) -> str:
    agent = ctx.agent
    who = f"You are {agent.name}" + (f", {agent.role.strip()}" if agent.role.strip() else "") + "."
    parts = [who]
    if agent.system_prompt:
        parts.append(agent.system_prompt.strip())
    how = [
        "You work in a project directory; every path you give a tool is relative to its root.",
    ]
    if "write_file" in tools:
        how.append("Write every deliverable to a file with write_file (to the path the task names, else under "
                   ".polpo/output/); a file you only describe does not exist.")
    if agent.allowed_paths:
        how.append(f"You may only use these paths: {', '.join(agent.allowed_paths)}.")
    if tools:
        how.append(f"Your tools: {', '.join(tools)}.")
    how.append("When the task is done, answer with a short summary of what you did and where the results are.")
    parts.append(" ".join(how))
    return "\n\n".join(parts)


def _section(title: str, body: str) -> str:
    return f"## {title}\n{body.strip()}"


def _upstream(results: dict[str, TaskResult]) -> str:
    blocks = []
    for title, result in results.items():
        lines = [f"### {title}"]
        if result.content.strip():
            lines.append(_cut(result.content, _UPSTREAM_CHARS))
        if result.files_created:
            lines.append(f"Files: {', '.join(result.files_created)}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _assessed(task: TaskRecord) -> str:
    lines = []
    for e in task.expectations:
        if isinstance(e, CriterionExpectation | LlmReviewExpectation):
            lines.append(f"- {e.criterion}")
        elif getattr(e, "type", "") == "file_exists":
            lines.append(f"- these files exist and are not empty: {', '.join(e.paths)}")  # type: ignore[union-attr]
        elif getattr(e, "type", "") in ("test", "script", "metrics"):
            command = getattr(e, "command", None) or getattr(e, "script", "")
            lines.append(f"- `{command}` succeeds")
    for o in task.expected_outcomes:
        what = o.path or o.url or o.label or "the answer"
        lines.append(f"- a {o.type} deliverable: {what}" + (f" ({o.description})" if o.description else ""))
    return "\n".join(lines)


def task_prompt(ctx: AgentContext) -> str:
    """The whole prompt of an attempt (with the fix section in the fix phase)."""
    task = ctx.task
    parts = []
    if ctx.mission_prompt.strip():
        parts.append(_section(f"Mission{': ' + ctx.mission_name if ctx.mission_name else ''}", ctx.mission_prompt))
    elif ctx.mission_name:
        parts.append(f"## Mission: {ctx.mission_name}")
    if ctx.mission_data is not None:
        parts.append(_section("Mission data", _cut(_json(ctx.mission_data), _DATA_CHARS)))
    if ctx.memory.strip():
        parts.append(_section("Project memory", _cut(ctx.memory, _MEMORY_CHARS)))
    if ctx.upstream:
        parts.append(_section("Results of the tasks this one depends on", _upstream(ctx.upstream)))
    parts.append(_section(f"Your task: {task.title}", task.description or task.title))
    if assessed := _assessed(task):
        parts.append(_section("Your work will be assessed on", assessed))
    if ctx.feedback:
        parts.append(fix_prompt(ctx))
    return "\n\n".join(parts)


def fix_prompt(ctx: AgentContext) -> str:
    """The fix phase's request: the assessment's feedback, and what the previous attempt left."""
    lines = [f"## Fix required (attempt {ctx.attempt})",
             "Your previous attempt did not pass the assessment. Its feedback:", "", (ctx.feedback or "").strip()]
    previous = ctx.task.result
    if previous is not None and previous.files_created:
        lines += ["", f"Files from the previous attempt: {', '.join(previous.files_created)}"]
    lines += ["", "Fix the problems above, keep what was right, then summarise what you changed."]
    return "\n".join(lines)


def _json(value: Any) -> str:
    try:
        return json.dumps(value, indent=2, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)
