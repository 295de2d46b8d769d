"""Chat: the orchestrator's tool loop over the project API, agents talked to directly, and sessions.

`project.chat("...")` answers one turn (`stream=True`: a ChatStream of chunks); the HTTP layer renders
the same turn as OpenAI chat completions. No HTTP here.

The orchestrator (and with it pydantic-ai, half a second of imports) loads on first use: the server
extension imports this package's models at Jupyter's start-up, and opening a project must stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .messages import ChatChunk, ChatMessage, ChatReply, ChatSession, ChatSessionPatch, ChatUsage, ToolCall
from .stream import ChatStream, ChatTurnError
from .tools import TOOLS, ToolSpec

if TYPE_CHECKING:
    from ..project.aproject import AsyncProject
    from .orchestrator import ChatService
    from .sessions import Sessions

_LAZY = frozenset({"ChatService", "ChatTurn", "NoOrchestratorModel"})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import orchestrator

        return getattr(orchestrator, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

def service(project: AsyncProject, sessions: Sessions) -> ChatService:
    """The chat of `project`: what `polpo_nb` plugs into `AsyncProject.plug_chat` (the orchestrator,
    and pydantic-ai with it, is imported here, on the first chat turn)."""
    from .orchestrator import ChatService

    return ChatService(project, sessions)


__all__ = [
    "TOOLS", "ChatChunk", "ChatMessage", "ChatReply", "ChatService", "ChatSession", "ChatSessionPatch", "ChatStream",
    "ChatTurn", "ChatTurnError", "ChatUsage", "NoOrchestratorModel", "ToolCall", "ToolSpec", "service",
]
