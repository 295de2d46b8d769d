"""The project's side of the chat: the port the chat package plugs its orchestrator into.

The chat sits above the project: its orchestrator's tools are the project's public API. So the
project does not import it; `AsyncProject.chat(...)` prepares and runs turns through a
`ChatBackend`, made on first use by the factory `polpo_nb` plugs in at import
(`AsyncProject.plug_chat(polpo_nb.chat.plug.service)`). Sessions are plain storage: the project keeps
them itself (listing sessions never loads a model SDK).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pydantic_ai.settings import ModelSettings

    from ..chat.messages import ChatReply
    from ..chat.stream import ChatStream


class ChatTurn(Protocol):
    """A prepared turn: its session holds the new messages; `run` answers them."""

    @property
    def session_id(self) -> str: ...

    async def run(self) -> ChatReply:
        """Answer, and return the reply once the turn is over."""
        ...

    def start_stream(self, keep: set[asyncio.Task[Any]]) -> ChatStream:
        """Run in the background on the engine's loop (the task kept in `keep`), chunks into a ChatStream."""
        ...


class ChatBackend(Protocol):
    """What answers the project's chat turns (`polpo_nb.chat.orchestrator.ChatService`)."""

    async def prepare(self, messages: Any, *, session_id: str | None = None, agent: str | None = None,
                      max_turns: int | None = None, settings: ModelSettings | None = None,
                      model: str | None = None) -> ChatTurn:
        """Check everything the request can get wrong, then store its messages: nothing is stored
        for a request that fails here."""
        ...
