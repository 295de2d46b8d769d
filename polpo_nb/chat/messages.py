"""The shapes of a conversation: messages, sessions, a turn's reply and the chunks of a streamed turn.

Messages follow OpenAI's roles (`system`, `user`, `assistant`, `tool`) so a stored session reads like the
`messages` array a client sends, with the tool calls the orchestrator made in between. They are
WireModels: camelCase in the sessions API and in the store, snake_case in Python.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field

from ..errors import SpecError
from ..spec import WireModel

Role = Literal["system", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length"]

#: A session's title is its first user message, cut here.
TITLE_CHARS = 60


class ToolCall(WireModel):
    """One tool call of an assistant message, as the model made it."""

    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class ChatMessage(WireModel):
    id: int | None = Field(default=None, description="Position in the session's store (set once stored).")
    role: Role
    content: str | None = None
    tool_calls: list[ToolCall] | None = Field(default=None, description="assistant: the tools it called.")
    tool_call_id: str | None = Field(default=None, description="tool: the call this message answers.")
    name: str | None = Field(default=None, description="tool: the tool's name; assistant: the agent that spoke.")
    is_error: bool | None = Field(default=None, description="tool: the call failed (its error is the content).")
    created_at: str | None = None


class ChatSession(WireModel):
    id: str
    title: str
    agent: str | None = Field(default=None, description="The agent talked to; none for the orchestrator.")
    created_at: str
    updated_at: str
    message_count: int = 0


class ChatSessionPatch(WireModel):
    """`PATCH chat/sessions/:id`: rename a session."""

    title: str = Field(min_length=1, max_length=200)


class ChatUsage(WireModel):
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    tool_calls: int = 0


class ChatReply(WireModel):
    """What one turn produced: the final answer and everything stored along the way."""

    session_id: str
    content: str
    finish_reason: FinishReason = "stop"
    model: str | None = Field(default=None, description="The model that answered (none for a function agent).")
    agent: str | None = None
    usage: ChatUsage = Field(default_factory=ChatUsage)
    messages: list[ChatMessage] = Field(default_factory=list, description="The messages this turn added.")

    @property
    def tool_calls(self) -> list[ToolCall]:
        return [c for m in self.messages for c in m.tool_calls or []]


class ChatChunk(WireModel):
    """One piece of a streamed turn. `text` chunks concatenate to the answer; `tool_call` and
    `tool_result` show the orchestrator at work; `output` is a function agent's progress; the last
    chunk is `done` (with the reply) or `error`."""

    kind: Literal["text", "tool_call", "tool_result", "output", "done", "error"]
    text: str | None = None
    tool_call: ToolCall | None = None
    is_error: bool | None = None
    reply: ChatReply | None = None
    error: str | None = None
    code: str | None = None


def parse_messages(messages: Any) -> list[ChatMessage]:
    """A user string, or OpenAI-style messages (dicts or ChatMessages), as ChatMessages.

    OpenAI content may be a list of parts; its text parts are joined. Tool calls in OpenAI's form
    (`{"id", "type": "function", "function": {"name", "arguments": "<json>"}}`) are accepted too.
    """
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    if isinstance(messages, dict | ChatMessage):
        messages = [messages]
    if not isinstance(messages, list) or not messages:
        raise SpecError([{"loc": ["messages"], "msg": "at least one message is needed"}])
    out = []
    for i, item in enumerate(messages):
        if isinstance(item, ChatMessage):
            out.append(item)
            continue
        if not isinstance(item, dict):
            raise SpecError([{"loc": ["messages", i], "msg": "a message is an object with a role and a content"}])
        out.append(_openai_message(item, i))
    if not any(m.role == "user" for m in out):
        raise SpecError([{"loc": ["messages"], "msg": "no user message: say something to talk to"}])
    return out


def _openai_message(item: dict[str, Any], index: int) -> ChatMessage:
    role = item.get("role")
    if role == "developer":  # OpenAI's newer name for system instructions
        role = "system"
    if role not in ("system", "user", "assistant", "tool"):
        raise SpecError([{"loc": ["messages", index, "role"],
                          "msg": f"role {role!r} is not one of system, user, assistant, tool"}])
    content = item.get("content")
    if isinstance(content, list):
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    if content is not None and not isinstance(content, str):
        raise SpecError([{"loc": ["messages", index, "content"], "msg": "content is a string or a list of text parts"}])
    raw_calls = item.get("tool_calls") or item.get("toolCalls")
    calls = [_tool_call(c, index) for c in raw_calls] if raw_calls else None
    return ChatMessage(role=role, content=content, tool_calls=calls,
                       tool_call_id=item.get("tool_call_id") or item.get("toolCallId"), name=item.get("name"))


def _tool_call(call: Any, index: int) -> ToolCall:
    if not isinstance(call, dict):
        raise SpecError([{"loc": ["messages", index, "tool_calls"], "msg": "a tool call is an object"}])
    nested = call.get("function")
    function: dict[str, Any] = nested if isinstance(nested, dict) else call
    arguments = function.get("arguments") or {}
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except ValueError:
            arguments = {"_raw": arguments}
    return ToolCall(id=str(call.get("id") or ""), name=str(function.get("name") or ""),
                    arguments=arguments if isinstance(arguments, dict) else {"_value": arguments})


def title_of(messages: list[ChatMessage]) -> str:
    text = next((m.content for m in messages if m.role == "user" and m.content), "") or "New chat"
    text = " ".join(text.split())
    return text if len(text) <= TITLE_CHARS else text[:TITLE_CHARS - 1].rstrip() + "…"
