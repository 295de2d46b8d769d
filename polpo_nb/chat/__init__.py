"""Chat: the orchestrator's tool loop over the project API, agents talked to directly, and sessions.

`project.chat("...")` answers one turn (`stream=True`: a ChatStream of chunks); the HTTP layer renders
the same turn as OpenAI chat completions. No HTTP here.
"""

from .messages import ChatChunk, ChatMessage, ChatReply, ChatSession, ChatSessionPatch, ChatUsage, ToolCall
from .orchestrator import ChatService, ChatTurn, NoOrchestratorModel
from .stream import ChatStream, ChatTurnError
from .tools import TOOLS, ToolSpec

__all__ = [
    "TOOLS", "ChatChunk", "ChatMessage", "ChatReply", "ChatService", "ChatSession", "ChatSessionPatch", "ChatStream",
    "ChatTurn", "ChatTurnError", "ChatUsage", "NoOrchestratorModel", "ToolCall", "ToolSpec",
]
