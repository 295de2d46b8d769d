"""Events of missions and what holds them: status, gates, checkpoints, delays, schedules."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from .base import CatalogEvent, event

# == missions and their holds ==========================================================================

@event("mission:saved")
class MissionSaved(CatalogEvent):
    """A mission was created (`taskCount`) or edited (`fields`)."""
    mission_id: str
    name: str
    task_count: int | None = None
    fields: list[str] | None = None


@event("mission:deleted")
class MissionDeleted(CatalogEvent):
    """A mission was deleted."""
    mission_id: str
    name: str


@event("mission:status")
class MissionStatusChanged(CatalogEvent):
    """A mission changed status; a pause says why (`pauseReason`, `pauseMessage`), a failure `error`."""
    mission_id: str
    name: str
    from_: Annotated[str, Field(alias="from")]
    to: str
    status: str
    pause_reason: str | None = None
    pause_message: str | None = None
    error: str | None = None


@event("mission:executed")
class MissionExecuted(CatalogEvent):
    """A run of the mission started."""
    mission_id: str
    name: str
    execution_count: int
    task_count: int
    dry_run: bool | None = None  # started with a test key: LLM calls on the offline `test` model


@event("mission:resumed")
class MissionResumed(CatalogEvent):
    """A paused, interrupted or failed run goes on."""
    mission_id: str
    name: str
    retry_failed: bool


@event("mission:rerun")
class MissionRerun(CatalogEvent):
    """A settled mission runs again from one of its tasks: `fromTask` and everything downstream of it
    (`tasks`, titles) re-execute; the results upstream of it are reused, earlier attempts are kept."""
    mission_id: str
    name: str
    from_task: str
    from_task_id: str
    tasks: list[str]


@event("mission:aborted")
class MissionAborted(CatalogEvent):
    """A run was aborted by a human."""
    mission_id: str
    name: str
    status: str


@event("mission:completed")
class MissionCompleted(CatalogEvent):
    """A run ended: completed, failed or cancelled."""
    mission_id: str
    name: str
    status: str
    error: str | None = None


@event("gate:passed")
class GatePassed(CatalogEvent):
    """A quality gate opened: its `blocksTasks` may start."""
    mission_id: str
    gate: str
    after_tasks: list[str]
    blocks_tasks: list[str]


@event("gate:blocked")
class GateBlocked(CatalogEvent):
    """A quality gate can no longer be met: the mission pauses."""
    mission_id: str
    name: str
    gate: str
    after_tasks: list[str]
    blocks_tasks: list[str]


@event("checkpoint:waiting")
class CheckpointWaiting(CatalogEvent):
    """A mission reached a checkpoint and pauses until resumed."""
    mission_id: str
    name: str
    checkpoint: str
    message: str
    after_tasks: list[str]


@event("checkpoint:resumed")
class CheckpointResumed(CatalogEvent):
    """A checkpoint was passed by a resume."""
    mission_id: str
    name: str
    checkpoint: str


@event("delay:started")
class DelayStarted(CatalogEvent):
    """A delay's clock started: its `blocksTasks` wait `duration` (ISO 8601)."""
    mission_id: str
    delay: str
    duration: str
    blocks_tasks: list[str]


@event("delay:elapsed")
class DelayElapsed(CatalogEvent):
    """A delay's time is up: its `blocksTasks` may start."""
    mission_id: str
    delay: str
    blocks_tasks: list[str]


# == schedules =========================================================================================

@event("schedule:triggered")
class ScheduleTriggered(CatalogEvent):
    """A scheduled mission fired for `occurrence`."""
    mission_id: str
    name: str
    occurrence: str
    execution_count: int
    next_run_at: str | None


@event("schedule:missed")
class ScheduleMissed(CatalogEvent):
    """Occurrences that did not fire (no engine ran then, or the previous run was still going)."""
    mission_id: str
    name: str
    count: int
    occurrences: list[str]
    reason: str


@event("schedule:failed")
class ScheduleFailed(CatalogEvent):
    """A scheduled occurrence could not start its run."""
    mission_id: str
    name: str
    occurrence: str
    error: str


# == budgets ===========================================================================================

@event("budget:warning")
class BudgetWarning(CatalogEvent):
    """A budget's limit is 80 % spent (once per limit and run): a mission's (`scope` "mission") or an
    agent attempt's (`scope` "agent"). `limit` is the budget's field (`maxTokens`, `maxCostUsd`,
    `maxDuration`; `used`/`max` in tokens, USD or seconds)."""
    scope: str
    limit: str
    used: float
    max: float
    message: str
    mission_id: str | None = None
    task_id: str | None = None
    agent_name: str | None = None


@event("budget:exceeded")
class BudgetExceeded(CatalogEvent):
    """A budget ran out: a mission's pauses (`pauseReason: "budget"`) before its next model call, an
    agent's attempt fails. `limits` names what ran out: `[{"limit", "used", "max"}]`."""
    scope: str
    limits: list[dict[str, Any]]
    message: str
    mission_id: str | None = None
    task_id: str | None = None
    agent_name: str | None = None
