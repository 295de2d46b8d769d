"""Status vocabularies of tasks and missions (seed 002, ARCHITECTURE.md §3)."""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

from ..errors import SpecError

S = TypeVar("S", bound=StrEnum)


class TaskStatus(StrEnum):
    DRAFT = "draft"
    PENDING = "pending"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    REVIEW = "review"
    AWAITING_APPROVAL = "awaiting_approval"
    DONE = "done"
    FAILED = "failed"


class Phase(StrEnum):
    EXECUTION = "execution"
    REVIEW = "review"
    FIX = "fix"


class MissionStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


#: Tasks in these states hold an agent (or are about to): they cannot be deleted, only killed.
RUNNING_TASK_STATES = frozenset({TaskStatus.ASSIGNED, TaskStatus.IN_PROGRESS, TaskStatus.REVIEW})
TERMINAL_MISSION_STATES = frozenset({MissionStatus.COMPLETED, MissionStatus.FAILED, MissionStatus.CANCELLED})
#: A mission in these states has a run (here or in another process): it cannot be executed again, only
#: resumed or aborted.
LIVE_MISSION_STATES = frozenset({MissionStatus.ACTIVE, MissionStatus.PAUSED})


def status_filter(kind: type[S], value: str | None) -> S | None:
    """A status given as text to filter a list (`list_tasks(status=...)`): one that no record can have is
    the caller's mistake (`"complete"` for `"completed"`), refused naming the statuses, where a filter
    taken as given would answer an empty list that looks like "nothing there"."""
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError:
        names = ", ".join(repr(s.value) for s in kind)
        raise SpecError([{"loc": ["status"], "msg": f"{value!r} is not a {kind.__name__.removesuffix('Status').lower()} status "
                                                    f"(one of {names})"}]) from None
