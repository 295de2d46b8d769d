"""Project-level views: the state snapshot, the team, and the records of what happened (attempts,
schedule occurrences, log sessions) as the public API and the wire show them."""

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


class Attempt(WireModel):
    """One call of a task's agent: which phase, agent and model, by which process, how it ended."""

    number: int = Field(description="1 for the first attempt of the task.")
    status: str = Field(description="running, completed, failed, crashed, killed, interrupted, ...")
    phase: str
    agent: str
    model: str | None = None
    owner: str = Field(description="The engine (process) that ran it.")
    started_at: str
    finished_at: str | None = None
    result: str | None = Field(default=None, description="The TaskResult as JSON, once the attempt ended.")
    task_id: str


class ScheduleOccurrence(WireModel):
    """What happened to one occurrence of a mission's schedule."""

    occurrence: str
    outcome: str = Field(description="fired, missed or skipped")
    owner: str = Field(description="The engine (process) that handled it.")
    at: str


class LogSession(WireModel):
    session_id: str
    task_id: str | None = None
    entries: int
    started_at: str | None = None
    updated_at: str | None = None


class LogEntry(WireModel):
    timestamp: str
    level: str
    message: str
    task_id: str | None = None
