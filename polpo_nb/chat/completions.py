"""OpenAI's chat-completions format around a chat turn: the request, the answer, the stream chunks, errors.

This is the wire format only (no HTTP): the server validates a body with `CompletionRequest`, calls
`project.chat(...)` with what it says, and renders the reply with `completion()` or the stream with
`chunk()`. Field names are OpenAI's (snake_case) so any OpenAI client works unchanged; polpo's own
additions are `agent` and `sessionId` in the request, `sessionId` in answers and chunks, and a `polpo`
object on the chunks that show the orchestrator's tool calls (their `delta` is empty, so clients that
do not know it see nothing).
"""

from __future__ import annotations

import secrets
import time
from typing import Any, Literal

from pydantic import AliasChoices, ConfigDict, Field

from ..errors import PolpoError, SpecError
from ..spec import StrictScalars
from .messages import ChatChunk, ChatReply

__all__ = ["ChatCompletion", "ChunkWriter", "CompletionRequest", "classify", "completion", "model_label", "openai_error"]


class _OpenAIModel(StrictScalars):
    """OpenAI's field names; booleans and numbers strict, as in every model (`"stream": 1` was a stream
    that held no stream slot). OpenAI clients send fields we have no use for (logprobs, seed,
    response_format, ...): ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class ContentPart(_OpenAIModel):
    """One part of a message's content: `{type: "text", text}` is read; other kinds (images) are kept
    as sent and ignored."""

    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class RequestMessage(_OpenAIModel):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_call_id: str | None = None
    tool_calls: list[dict[str, Any]] | None = None


class StreamOptions(_OpenAIModel):
    include_usage: bool = False


class CompletionRequest(_OpenAIModel):
    """`POST v1/chat/completions`: OpenAI's request, plus `agent` and `sessionId`."""

    messages: list[RequestMessage] = Field(min_length=1)
    model: str | None = Field(default=None, description="Echo only: the orchestrator's model is the project's "
                              "`orchestratorModel` (an agent answers with its own).")
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    n: int = Field(default=1, ge=1, le=1, description="One choice per completion.")
    agent: str | None = Field(default=None, description="Talk to this agent directly instead of the orchestrator.")
    session_id: str | None = Field(default=None, validation_alias=AliasChoices("sessionId", "session_id"),
                                   description="Continue this stored session (`new`: start one; default: a new one). "
                                   "The `X-Session-Id` header works too.")
    tools: list[dict[str, Any]] | None = Field(default=None, description="Not supported: Polpo runs its own tools.")

    def chat_messages(self) -> list[dict[str, Any]]:
        if self.tools:
            raise SpecError([{"loc": ["tools"], "msg": "client-side tools are not supported: Polpo runs its own tool "
                                                       "loop over the project's API"}])
        return [m.model_dump(exclude_none=True) for m in self.messages]

    def settings(self) -> dict[str, Any] | None:
        settings: dict[str, Any] = {}
        if self.temperature is not None:
            settings["temperature"] = self.temperature
        if self.top_p is not None:
            settings["top_p"] = self.top_p
        if self.max_completion_tokens or self.max_tokens:
            settings["max_tokens"] = self.max_completion_tokens or self.max_tokens
        return settings or None


class CompletionMessage(_OpenAIModel):
    role: Literal["assistant"] = "assistant"
    content: str


class CompletionChoice(_OpenAIModel):
    index: int = 0
    message: CompletionMessage
    finish_reason: Literal["stop", "length"]


class CompletionUsage(_OpenAIModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(_OpenAIModel):
    """OpenAI's `chat.completion` object, plus the session it was stored in."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: CompletionUsage
    session_id: str = Field(serialization_alias="sessionId")


def completion_id() -> str:
    return f"chatcmpl-{secrets.token_hex(12)}"


def model_label(model: str | None, agent: str | None) -> str:
    """The `model` of answers: the model that answered, else the function agent that did."""
    return model or (f"agent:{agent}" if agent else "polpo")


def _usage(reply: ChatReply) -> dict[str, int]:
    u = reply.usage
    return {"prompt_tokens": u.input_tokens, "completion_tokens": u.output_tokens,
            "total_tokens": u.input_tokens + u.output_tokens}


def completion(reply: ChatReply, ident: str | None = None) -> dict[str, Any]:
    body = ChatCompletion(
        id=ident or completion_id(), created=int(time.time()), model=model_label(reply.model, reply.agent),
        choices=[CompletionChoice(message=CompletionMessage(content=reply.content), finish_reason=reply.finish_reason)],
        usage=CompletionUsage(**_usage(reply)), session_id=reply.session_id,
    )
    return body.model_dump(mode="json", by_alias=True)


class ChunkWriter:
    """The `chat.completion.chunk` objects of one streamed turn, in order."""

    def __init__(self, session_id: str, model: str, include_usage: bool = False) -> None:
        self.id = completion_id()
        self.created = int(time.time())
        self.session_id = session_id
        self.model = model
        self.include_usage = include_usage

    def _chunk(self, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], "sessionId": self.session_id,
                **extra}

    def opening(self) -> dict[str, Any]:
        return self._chunk({"role": "assistant", "content": ""})

    def of(self, item: ChatChunk) -> list[dict[str, Any]]:
        """The chunks for one ChatChunk (none, one, or the closing ones)."""
        if item.kind == "text" and item.text:
            return [self._chunk({"content": item.text})]
        if item.kind in ("tool_call", "tool_result", "output"):
            call = item.tool_call
            polpo: dict[str, Any] = {"type": item.kind}
            if call is not None:
                polpo.update(id=call.id, name=call.name)
                if item.kind == "tool_call":
                    polpo["arguments"] = call.arguments
            if item.text is not None:
                polpo["content" if item.kind != "output" else "text"] = item.text
            if item.is_error:
                polpo["isError"] = True
            return [self._chunk({}, polpo=polpo)]
        if item.kind == "done" and item.reply is not None:
            usage = _usage(item.reply)
            out = [self._chunk({}, item.reply.finish_reason, usage=usage)]
            if self.include_usage:
                out.append({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                            "model": self.model, "choices": [], "usage": usage, "sessionId": self.session_id})
            return out
        if item.kind == "error":  # the turn failed after the stream began: said as its request would have been
            status, code = BY_CODE.get(item.code or "", INTERNAL_ERROR)
            return [openai_error(status, item.error or "the chat turn failed", code)]
        return []


def openai_error(status: int, message: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    """`{"error": {"message", "type", "code", "param"}}`, OpenAI's error object: every 4xx but 429 is
    the request's fault (`invalid_request_error`), a 502 the provider's (`api_error`), the rest ours."""
    if status == 429:
        kind = "rate_limit_error"
    elif 400 <= status < 500:
        kind = "invalid_request_error"
    else:
        kind = "api_error" if status == 502 else "server_error"
    return {"error": {"message": message, "type": kind, "code": code, "param": param}}


#: (status, OpenAI error code) of a chat call's error by its polpo code, before its answer began (`classify`)
#: or after, in its stream: the turn's own error chunk (`ChunkWriter`).
BY_CODE: dict[str, tuple[int, str]] = {
    "FORBIDDEN": (403, "forbidden"),
    "NOT_FOUND": (404, "not_found"),
    "CONFLICT": (409, "conflict"),
    "UPSTREAM": (502, "upstream_error"),  # the model or the agent failed (`ChatTurnError`)
    "CANCELLED": (503, "cancelled"),  # the turn was stopped: the server shut down, or its reader cancelled it
    "INSUFFICIENT_STORAGE": (507, "insufficient_storage"),  # a full disk: nothing stored; the same turn may be sent again
}
INTERNAL_ERROR = (500, "internal_error")


def classify(exc: PolpoError) -> tuple[int, str, str | None]:
    """(status, OpenAI error code, param) for a library error raised by a chat call."""
    from .orchestrator import NoOrchestratorModel, UnknownAgent
    from .sessions import SessionNotFound

    if isinstance(exc, NoOrchestratorModel):
        return 400, "orchestrator_model_not_configured", "model"
    if isinstance(exc, UnknownAgent):
        return 404, "agent_not_found", "agent"
    if isinstance(exc, SessionNotFound):
        return 404, "session_not_found", "sessionId"
    if isinstance(exc, SpecError):
        loc = exc.errors[0]["loc"] if exc.errors else []
        return 400, "invalid_value", ".".join(str(p) for p in loc) or None
    if exc.code == "BAD_REQUEST":  # an unusable model: unknown provider, missing key
        return 400, "model_unavailable", "model"
    return (*BY_CODE.get(exc.code, INTERNAL_ERROR), None)
