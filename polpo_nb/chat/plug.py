"""What `polpo_nb` plugs into `AsyncProject.plug_chat`: a module of its own, so that the chat package's
models (which the project stores) never import the project, even for type checking."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..project.aproject import AsyncProject
    from .orchestrator import ChatService
    from .sessions import Sessions


def service(project: AsyncProject, sessions: Sessions) -> ChatService:
    """The chat of `project` (the orchestrator, and pydantic-ai with it, is imported on the first chat
    turn, not when polpo_nb is: opening a project must stay fast)."""
    from .orchestrator import ChatService

    return ChatService(project, sessions)
