"""Events of the project around the missions: agents, the team, memory, chat sessions."""

from __future__ import annotations

from .base import CatalogEvent, event

# == the project: agents, team, memory, chat ========================================================

@event("agent:added")
class AgentAdded(CatalogEvent):
    """An agent was registered in the project."""
    agent_name: str


@event("agent:removed")
class AgentRemoved(CatalogEvent):
    """An agent was removed from the project."""
    agent_name: str


@event("team:renamed")
class TeamRenamed(CatalogEvent):
    """The project's team got a new name."""
    name: str


@event("memory:updated")
class MemoryUpdated(CatalogEvent):
    """The project memory was rewritten; `length` in characters."""
    length: int


@event("session:created")
class SessionCreated(CatalogEvent):
    """A chat session was opened (with the orchestrator, or `agent`)."""
    session_id: str
    title: str | None
    agent: str | None


@event("session:renamed")
class SessionRenamed(CatalogEvent):
    """A chat session got a new title."""
    session_id: str
    title: str


@event("session:deleted")
class SessionDeleted(CatalogEvent):
    """A chat session was deleted."""
    session_id: str


@event("message:added")
class MessageAdded(CatalogEvent):
    """A message was stored in a chat session; `toolCalls` names the tools it calls, `tool` the tool it
    answers for."""
    session_id: str
    message_id: int
    role: str
    tool_calls: list[str] | None = None
    tool: str | None = None
