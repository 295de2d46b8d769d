"""The chat face of a project (`AsyncProject` inherits it): turns answered by the plugged-in backend,
and the sessions the project keeps itself. A class of its own so the project's module keeps to the
rest of its API; it holds no state but what `AsyncProject.__init__` gives it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, cast

from ..chat.messages import ChatMessage, ChatReply, ChatSession, ChatSessionPatch
from ..chat.sessions import Sessions
from ..chat.stream import ChatStream
from ..spec import parse
from .chatport import ChatBackend
from .loop import engine_call

if TYPE_CHECKING:
    from pydantic_ai.settings import ModelSettings

#: Makes a project's chat backend from the project and its sessions (`polpo_nb.chat.plug.service`).
ChatFactory = Callable[[Any, Sessions], ChatBackend]


class ProjectChat:
    """The chat methods of `AsyncProject`; the attributes below are the ones its `__init__` sets."""

    _loop: asyncio.AbstractEventLoop
    _chat: ChatBackend | None
    _sessions: Sessions
    _background: set[asyncio.Task[None]]

    @classmethod
    def plug_chat(cls, factory: ChatFactory) -> None:
        """How projects answer chat turns: `polpo_nb` plugs `polpo_nb.chat.plug.service` in at import (the
        chat sits above the project: its tools are this API, so the project does not import it)."""
        cls._chat_factory = factory

    _chat_factory: ClassVar[ChatFactory | None] = None

    def _chat_backend(self) -> ChatBackend:
        if self._chat is None:
            factory = type(self)._chat_factory  # read on the class: a plain function, not a method of self
            if factory is None:
                raise RuntimeError("no chat is plugged in: import polpo_nb (it plugs polpo_nb.chat in)")
            self._chat = factory(self, self._sessions)
        return self._chat

    @engine_call
    async def chat(self, messages: Any, *, session_id: str | None = None, agent: str | None = None,
                   stream: bool = False, max_turns: int | None = None, model: str | None = None,
                   settings: dict[str, Any] | None = None) -> ChatReply | ChatStream:
        """One chat turn: the orchestrator (its tools are this API) answers, or `agent` does directly.

        `messages`: a string, or OpenAI-style messages. `session_id`: continue that stored session
        (`"last"`: the latest one); None or `"new"`: a new session. `model` overrides `orchestratorModel`
        (or the agent's model); `settings` are model settings (`temperature`, `max_tokens`). Returns a
        `ChatReply`, or with `stream=True` a `ChatStream` of `ChatChunk`s, to read with `async for` or,
        from the blocking `Project`, `for chunk in stream` (the turn runs on the engine whether or not it
        is read). Request problems (no orchestrator model, unknown agent or session,
        no user message) raise before anything is stored."""
        # settings are the caller's JSON; pydantic-ai's ModelSettings is that dict, typed by the keys it reads
        turn = await self._chat_backend().prepare(messages, session_id=session_id, agent=agent, max_turns=max_turns,
                                                   settings=cast("ModelSettings | None", settings), model=model)
        if stream:
            return turn.start_stream(self._background)
        return await turn.run()

    @engine_call
    async def chat_sessions(self) -> list[ChatSession]:
        """Stored chat sessions, most recently updated first."""
        return self._sessions.list()

    @engine_call
    async def chat_session(self, session_id: str) -> ChatSession:
        return self._sessions.get(session_id)

    @engine_call
    async def chat_messages(self, session_id: str) -> list[ChatMessage]:
        """A session's messages in order, tool calls and tool results included."""
        return self._sessions.messages(session_id)

    @engine_call
    async def rename_chat_session(self, session_id: str, title: str) -> ChatSession:
        patch = parse(ChatSessionPatch, {"title": title})
        return await self._sessions.rename(session_id, patch.title)

    @engine_call
    async def delete_chat_session(self, session_id: str) -> None:
        await self._sessions.delete(session_id)
