"""Chat: the orchestrator's tool loop over the project API, agents talked to directly, and sessions.

`project.chat("...")` answers one turn (`stream=True`: a ChatStream of chunks); the HTTP layer renders
the same turn as OpenAI chat completions. No HTTP here.

The orchestrator (and with it pydantic-ai, half a second of imports) loads on first use: the server
extension imports this package's models at Jupyter's start-up, and opening a project must stay fast.
"""

from __future__ import annotations

from typing import Any

from .messages import ChatChunk, ChatMessage, ChatReply, ChatSession, ChatSessionPatch, ChatUsage, ToolCall
from .stream import ChatStream, ChatTurnError

_LAZY = frozenset({"ChatService", "ChatTurn", "NoOrchestratorModel"})
#: The tool table works on the project's API: importing it here would put it below the project, which
#: imports this package's messages and sessions. It loads with the orchestrator, or from `.tools`.
_TOOLS = frozenset({"TOOLS", "ToolSpec"})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import orchestrator

        return getattr(orchestrator, name)
    if name in _TOOLS:
        from . import tools

        return getattr(tools, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "TOOLS", "ChatChunk", "ChatMessage", "ChatReply", "ChatService", "ChatSession", "ChatSessionPatch", "ChatStream",
    "ChatTurn", "ChatTurnError", "ChatUsage", "NoOrchestratorModel", "ToolCall", "ToolSpec",
]
