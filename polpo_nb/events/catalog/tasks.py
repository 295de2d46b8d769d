"""Events of tasks and their attempts: transitions, agents, assessments, approvals of a task."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from .base import CatalogEvent, event

# == tasks =============================================================================================

@event("task:created")
class TaskCreated(CatalogEvent):
    """A task was added (standalone or to a mission)."""
    task_id: str
    mission_id: str | None
    title: str
    assign_to: str


@event("task:transition")
class TaskTransition(CatalogEvent):
    """A task changed status; every status change emits one (written by the engine's `put` only)."""
    task_id: str
    mission_id: str | None
    title: str
    from_: Annotated[str, Field(alias="from")]
    to: str
    agent_name: str | None
    reason: str | None = None


@event("task:updated")
class TaskUpdated(CatalogEvent):
    """A task's spec was edited; `fields` names what a PATCH changed."""
    task_id: str
    mission_id: str | None
    fields: list[str] | None = None


@event("task:removed")
class TaskRemoved(CatalogEvent):
    """A task was deleted."""
    task_id: str
    mission_id: str | None
    title: str


@event("task:completed")
class TaskCompleted(CatalogEvent):
    """A task is done (passed its review, or was approved)."""
    task_id: str
    mission_id: str | None
    title: str
    status: str
    score: float | None


@event("task:retry")
class TaskRetry(CatalogEvent):
    """A task goes back to pending for another try; `attempt` is the attempt that failed, if one did."""
    task_id: str
    mission_id: str | None
    retries: int
    reason: str
    attempt: int | None = None


@event("task:fix")
class TaskFix(CatalogEvent):
    """A failed review sends the task's agent back to work with the feedback."""
    task_id: str
    mission_id: str | None
    attempt: int
    retries: int
    feedback: str
    score: float | None


@event("task:timeout")
class TaskTimeout(CatalogEvent):
    """An attempt ran past the task's `maxDuration` (milliseconds)."""
    task_id: str
    mission_id: str | None
    max_duration: float | None
    attempt: int


@event("task:output")
class TaskOutput(CatalogEvent):
    """Text an agent printed while working."""
    task_id: str
    mission_id: str | None
    attempt: int
    text: str


@event("task:tool_use")
class TaskToolUse(CatalogEvent):
    """An agent called a tool; `result` summarises what it returned."""
    task_id: str
    mission_id: str | None
    attempt: int
    agent_name: str
    tool: str
    args: Any
    result: str


# == agents, assessments, approvals ====================================================================

@event("agent:spawned")
class AgentSpawned(CatalogEvent):
    """An attempt starts: its agent, model and phase. `resumed`: an attempt a crash interrupted runs on
    in a new process (the same attempt number, spawned again), so a consumer counting attempts can tell."""
    task_id: str
    mission_id: str | None
    agent_name: str
    model: str | None
    attempt: int
    phase: str
    resumed: bool = False


@event("agent:completed")
class AgentCompleted(CatalogEvent):
    """An attempt's agent returned (`ok`) or raised (`error`: the last line of its traceback)."""
    task_id: str
    mission_id: str | None
    agent_name: str
    attempt: int
    ok: bool
    duration_ms: float | None
    error: str | None = None


@event("assessment:started")
class AssessmentStarted(CatalogEvent):
    """A review begins: after an attempt (`attempt`), or of the stored result (`reassess`)."""
    task_id: str
    mission_id: str | None
    attempt: int | None = None
    reassess: bool | None = None


@event("assessment:completed")
class AssessmentCompleted(CatalogEvent):
    """A review's verdict: score, pass, feedback, each outcome check and each judged criterion; `usage`,
    what the attempt judged spent on models (its `Usage`), when it called any."""
    task_id: str
    mission_id: str | None
    score: float | None
    passed: bool
    feedback: str
    checks: list[dict[str, Any]]
    criteria: list[dict[str, Any]]
    usage: dict[str, Any] | None = None


@event("approval:requested")
class TaskApprovalRequested(CatalogEvent):
    """A task with side effects passed its review and waits for a human."""
    task_id: str
    mission_id: str | None
    kind: Literal["task"] = "task"
    title: str
    score: float | None


@event("approval:requested")
class CheckpointApprovalRequested(CatalogEvent):
    """A mission waits at a checkpoint for a human to resume it."""
    mission_id: str
    name: str
    kind: Literal["checkpoint"] = "checkpoint"
    checkpoint: str
    message: str
    after_tasks: list[str]


@event("approval:resolved")
class TaskApprovalResolved(CatalogEvent):
    """A human approved or rejected a task."""
    task_id: str
    mission_id: str | None
    kind: Literal["task"] = "task"
    approved: bool
    note: str | None = None


@event("approval:resolved")
class CheckpointApprovalResolved(CatalogEvent):
    """A checkpoint was passed (the mission resumed)."""
    mission_id: str
    name: str
    kind: Literal["checkpoint"] = "checkpoint"
    checkpoint: str
    approved: bool
