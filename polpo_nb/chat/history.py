"""Stored chat messages as pydantic-ai's message history, and back.

A stored conversation may end mid-turn (a crash, a cancelled stream, the turn budget): a tool call
without its result, or a result without its call, would be refused by every provider, so both are
dropped when the history is rebuilt.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelRequestPart,
    ModelResponse,
    ModelResponsePart,
    SystemPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)

from .messages import ChatMessage, ToolCall

__all__ = ["assistant_message", "to_history", "tool_call_of"]


def to_history(messages: list[ChatMessage]) -> list[ModelMessage]:
    answered = {m.tool_call_id for m in messages if m.role == "tool" and m.tool_call_id}
    called = {c.id for m in messages if m.role == "assistant" for c in m.tool_calls or []}
    history: list[ModelMessage] = []
    pending: list[ModelRequestPart] = []

    def flush() -> None:
        if pending:
            history.append(ModelRequest(parts=list(pending)))
            pending.clear()

    for message in messages:
        if message.role == "system" and message.content:
            pending.append(SystemPromptPart(message.content))
        elif message.role == "user":
            pending.append(UserPromptPart(message.content or ""))
        elif message.role == "tool":
            if message.tool_call_id in called:
                pending.append(ToolReturnPart(tool_name=message.name or "", content=message.content or "",
                                              tool_call_id=message.tool_call_id or ""))
        elif message.role == "assistant":
            parts: list[ModelResponsePart] = []
            if message.content:
                parts.append(TextPart(message.content))
            parts += [ToolCallPart(c.name, c.arguments, tool_call_id=c.id)
                      for c in message.tool_calls or [] if c.id in answered]
            if parts:
                flush()
                history.append(ModelResponse(parts=parts))
    flush()
    return history


def tool_call_of(part: ToolCallPart) -> ToolCall:
    args: Any = part.args
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except ValueError:
            args = {"_raw": args}
    return ToolCall(id=part.tool_call_id, name=part.tool_name,
                    arguments=args if isinstance(args, dict) else {"_value": args})


def assistant_message(response: ModelResponse, agent: str | None) -> ChatMessage:
    text = "".join(p.content for p in response.parts if isinstance(p, TextPart))
    calls = [tool_call_of(p) for p in response.parts if isinstance(p, ToolCallPart)]
    return ChatMessage(role="assistant", content=text or None, tool_calls=calls or None, name=agent)
