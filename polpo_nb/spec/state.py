"""Project-level views: the state snapshot and the team."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ._base import WireModel
from .agent import Agent
from .mission import MissionRecord
from .task import TaskRecord


class ProjectInfo(WireModel):
    id: str
    name: str
    path: str = Field(description="The project directory, relative to the server's root when served.")


class Process(WireModel):
    """An attempt being run now by some engine."""

    task_id: str
    mission_id: str | None = None
    title: str
    agent_name: str
    status: str
    phase: str | None = None
    owner: str


class ProjectState(WireModel):
    project: ProjectInfo
    tasks: list[TaskRecord]
    missions: list[MissionRecord]
    agents: list[Agent]
    team: dict[str, Any]
    processes: list[Process]
    last_event_id: str | None = None
