"""Exact resume of an LLM agent's attempt: its conversation as durable steps (`agents/steps.py`).

While the attempt runs, each model response is stored (with the request before it) before its tool calls
start, and each tool call's result is stored, with what the call did to the workspace, before the model
sees it. When a crash interrupted the attempt, the engine runs the same attempt on, and the conversation
continues from its last stored step as pydantic-ai's message history: no completed model call is made
again, and a completed tool call is answered from the store instead of running again.

A tool call of the last stored response that has no stored result was in flight at the crash (or about
to start). An idempotent tool (`tools.idempotent`: reading, listing, grep, an http GET; an MCP tool its
server marks read-only or idempotent) runs again. Any other (write_file, edit_file, run_shell, other MCP
tools) is not run again: the model gets a result saying it was interrupted by a crash and may or may not
have taken effect, and decides what to do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from pydantic_ai import RunContext
from pydantic_ai.exceptions import ModelRetry, ToolFailed
from pydantic_ai.messages import (
    ModelMessage,
    ModelMessagesTypeAdapter,
    ModelRequest,
    ModelResponse,
    ToolReturnPart,
)
from pydantic_ai.toolsets import AbstractToolset, FunctionToolset, WrapperToolset
from pydantic_ai.toolsets.abstract import ToolsetTool
from pydantic_ai.usage import RunUsage
from pydantic_core import to_jsonable_python

from ..usage.meter import current_meter
from .steps import StepLog
from .tools import Workspace, idempotent

__all__ = ["DurableConversation", "interrupted_answer"]

MESSAGE, TOOL = "message", "tool"


def interrupted_answer(name: str) -> str:
    return (f"interrupted by a crash: the process running this task died while {name} was running, so it may or "
            "may not have taken effect. It was not run again because it is not idempotent: check its effect "
            "before you call it again.")


class DurableConversation:
    """One LLM attempt's conversation in its step log: what was stored before a crash (`history`, the
    tool results, the usage), and the recording of what comes next."""

    def __init__(self, log: StepLog | None, workspace: Workspace) -> None:
        self.log = log
        self.workspace = workspace
        self.history: list[ModelMessage] = []
        results: dict[str, dict[str, Any]] = {}
        #: the stored results of the last stored response's calls, answered (once each) instead of a run
        self._replay: dict[str, dict[str, Any]] = {}
        self._pending: set[str] = set()  # calls of the last stored response with no stored result
        for row in log.recorded() if log is not None else ():
            doc = ModelMessagesTypeAdapter.validate_json(row.doc) if row.kind == MESSAGE else None
            if doc is not None:
                self.history.extend(doc)
            elif row.kind == TOOL:
                stored = json.loads(row.doc)
                results[row.key] = stored
                workspace.merge(stored["effects"])  # what the call did is part of the attempt's result
        self._stored = len(self.history)
        last = self.history[-1] if self.history else None
        if isinstance(last, ModelResponse):
            calls = {c.tool_call_id for c in last.tool_calls}
            self._replay = {i: results[i] for i in calls if i in results}
            self._pending = calls - set(results)

    @property
    def resumed(self) -> bool:
        return bool(self.history)

    @property
    def answered(self) -> bool:
        """The stored conversation ends with the model's final answer (the crash came before the attempt's
        result was committed): the run only has to read it back, with no model call."""
        last = self.history[-1] if self.history else None
        return isinstance(last, ModelResponse) and not last.tool_calls

    def usage(self) -> RunUsage | None:
        """What the stored model calls used: the run goes on counting from there (one attempt, each call
        counted once, `maxTurns` included)."""
        if not self.history:
            return None
        usage = RunUsage()
        for message in self.history:
            if isinstance(message, ModelResponse):
                usage.incr(message.usage)
                usage.requests += 1
            elif isinstance(message, ModelRequest):
                usage.tool_calls += sum(1 for p in message.parts if isinstance(p, ToolReturnPart))
        return usage

    def count_stored(self, model_id: str) -> None:
        """Report the stored model responses to this process's meter (`usage/meter.py`), once: the meter
        of the process that made them died with it before their spend was written."""
        meter = current_meter()
        if meter is not None:
            for message in self.history:
                if isinstance(message, ModelResponse):
                    meter.record(model_id, message, 0.0)

    def toolsets(self, builtin: list[Any], others: list[AbstractToolset[Workspace]]) -> list[AbstractToolset[Workspace]]:
        """The attempt's toolsets, each call going through the log (as they are, without a log)."""
        sets: list[AbstractToolset[Workspace]] = [FunctionToolset(builtin), *others]
        if self.log is None:
            return sets
        return [_Durable(s, conversation=self, builtin=i == 0) for i, s in enumerate(sets)]

    async def responded(self, messages: list[ModelMessage]) -> bool:
        """Store the messages since the last stored one (a model response and the request before it),
        before its tool calls start. False when there was nothing new (a response replayed on resume)."""
        new = messages[self._stored:]
        if not new:
            return False
        first, self._stored = self._stored, len(messages)
        if self.log is not None:
            await self.log.record([(MESSAGE, str(first + i), _dumps([m])) for i, m in enumerate(new)])
        return True

    async def call(self, inner: AbstractToolset[Workspace], name: str, args: dict[str, Any],
                   ctx: RunContext[Workspace], tool: ToolsetTool[Workspace], *, builtin: bool) -> Any:
        call_id = ctx.tool_call_id or ""
        stored = self._replay.pop(call_id, None)  # (a provider may reuse ids in later responses)
        if stored is not None:  # completed before the crash: its answer, not a second run
            return _answer(stored)
        view = ctx.deps.for_call()
        error: dict[str, str] | None = None
        if call_id in self._pending and not _may_rerun(name, args, tool, builtin=builtin):
            content: Any = view.record_call(name, args, interrupted_answer(name), False)
        else:
            try:
                content = await inner.call_tool(name, args, replace(ctx, deps=view), tool)
            except (ToolFailed, ModelRetry) as exc:
                content, error = None, {"kind": "retry" if isinstance(exc, ModelRetry) else "failed",
                                        "message": exc.message}
        self._pending.discard(call_id)
        stored = {"tool": name, "content": to_jsonable_python(content, fallback=str), "error": error,
                  "effects": view.effects()}
        ctx.deps.merge(stored["effects"])
        assert self.log is not None
        await self.log.record([(TOOL, call_id, stored)])
        return content if error is None else _answer(stored)


@dataclass
class _Durable(WrapperToolset[Workspace]):
    """A toolset whose calls go through the attempt's conversation log."""

    conversation: DurableConversation | None = None
    builtin: bool = False

    async def call_tool(self, name: str, tool_args: dict[str, Any], ctx: RunContext[Workspace],
                        tool: ToolsetTool[Workspace]) -> Any:
        assert self.conversation is not None
        return await self.conversation.call(self.wrapped, name, tool_args, ctx, tool, builtin=self.builtin)


def _may_rerun(name: str, args: dict[str, Any], tool: ToolsetTool[Workspace], *, builtin: bool) -> bool:
    """Whether a call the crash interrupted may simply run again."""
    if builtin:
        return idempotent(name, args)
    hints = (tool.tool_def.metadata or {}).get("annotations") or {}
    return bool(hints.get("readOnlyHint") or hints.get("idempotentHint"))


def _answer(stored: dict[str, Any]) -> Any:
    error = stored.get("error")
    if error is None:
        return stored["content"]
    if error["kind"] == "retry":
        raise ModelRetry(error["message"])
    raise ToolFailed(error["message"])


def _dumps(messages: list[ModelMessage]) -> Any:
    return ModelMessagesTypeAdapter.dump_python(messages, mode="json")
