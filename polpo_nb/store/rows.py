"""The rows the store answers with, one small frozen class per kind.

Rows that are pydantic documents (tasks, missions, agents) come back as their models; the rest are
plain columns, and come back as these: named fields in snake_case, typed, immutable, and cheap
(`slots`, no validation: the store wrote them and its schema constrains them). The public API turns
the ones a user sees into wire models (`polpo_nb.spec.state`); the engine reads them as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..spec import Agent


@dataclass(slots=True, frozen=True)
class AttemptRow:
    """One call of an agent for a task: `number` counts from 1; `result` is the TaskResult's JSON."""

    task_id: str
    number: int
    status: str
    phase: str
    agent: str
    model: str | None
    owner: str
    started_at: str
    finished_at: str | None
    result: str | None


@dataclass(slots=True, frozen=True)
class RunRow:
    """Which process runs a mission, until when its lease holds, and the run's flags (JSON object)."""

    mission_id: str
    owner: str
    lease_until: float
    state: dict[str, Any]


@dataclass(slots=True, frozen=True)
class ScheduleFireRow:
    """What happened to one occurrence of a mission's schedule (fired, missed, skipped), and who saw it."""

    occurrence: str
    outcome: str
    owner: str
    at: str


@dataclass(slots=True, frozen=True)
class CommandRow:
    """An operator command addressed to the process that owns a run (see engine.commands)."""

    id: int
    kind: str
    mission_id: str | None
    task_id: str | None
    payload: dict[str, Any]


@dataclass(slots=True, frozen=True)
class CommandOutcome:
    """Whether a command was carried out, and the error (message and code) it raised there, if any."""

    done: bool
    error: str | None
    code: str | None


@dataclass(slots=True, frozen=True)
class ChatSessionRow:
    id: str
    title: str
    agent: str | None
    created_at: str
    updated_at: str
    message_count: int


@dataclass(slots=True, frozen=True)
class ChatMessageRow:
    """A stored chat message: its id, and its JSON as the chat layer wrote it (the store does not parse it)."""

    id: int
    doc: str


@dataclass(slots=True, frozen=True)
class StoredAgent:
    """An agent of the project's team, and the mission whose team brought it (None: added directly)."""

    agent: Agent
    mission_id: str | None


@dataclass(slots=True, frozen=True)
class LogSessionRow:
    session_id: str
    task_id: str | None
    entries: int
    started_at: str
    updated_at: str


@dataclass(slots=True, frozen=True)
class LogEntryRow:
    timestamp: str
    level: str
    message: str
    task_id: str | None


@dataclass(slots=True, frozen=True)
class SpendRow:
    """What one unit of work spent on one model: an attempt (`kind` "attempt"), the judge's review of
    one (`"judge"`) or a chat turn (`"chat"`). `cost_usd` is a decimal string, None when no call could
    be priced; `unpriced_*` count the calls that could not. `execution` is the mission's execution count
    when it was spent (a budget bounds one execution)."""

    kind: str
    mission_id: str | None
    execution: int | None
    task_id: str | None
    attempt: int | None
    session_id: str | None
    agent: str | None
    model: str | None
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    requests: int
    tool_calls: int
    cost_usd: str | None
    unpriced_requests: int
    unpriced_tokens: int
    duration_ms: float
    at: str = ""
