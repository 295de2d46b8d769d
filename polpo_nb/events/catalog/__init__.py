"""The event catalog: one typed class per event name, the only thing the journal's `emit` accepts.

Each class names its event (`TaskTransition.event == "task:transition"`) and declares its payload in
snake_case; on the wire the payload is camelCase (pydantic's `to_camel`, or an explicit alias), and
`timestamp` (the commit's time unless given) ends it. A field whose default is None is left out of the
payload while it is None (`reason` of a transition, `note` of a decision); every other field is
always on the wire, null included, exactly as the stream has always carried it.

The classes are slotted dataclasses, not pydantic models: about ten events are built per task on the
engine's hot path, and validating each would cost more than building it. Pydantic reads the same
classes for what crosses the boundary: `validate_event` checks a payload against its class and
`stream_event_schema` is the JSON schema of the stream (a union discriminated by the event name) that
the OpenAPI document references. Each class's `to_wire` is generated once, when the class is
declared, so turning an event into its payload costs about what the dict literal it replaced did.

Families: `tasks` (tasks, attempts, assessments, a task's approval), `missions` (status, gates,
checkpoints, delays, schedules), `project` (agents, team, memory, chat).
"""

from __future__ import annotations

from .base import CATALOG, CatalogEvent, event
from .missions import (
    BudgetExceeded,
    BudgetWarning,
    CheckpointResumed,
    CheckpointWaiting,
    DelayElapsed,
    DelayStarted,
    GateBlocked,
    GatePassed,
    MissionAborted,
    MissionCompleted,
    MissionDeleted,
    MissionExecuted,
    MissionRerun,
    MissionResumed,
    MissionSaved,
    MissionStatusChanged,
    ScheduleFailed,
    ScheduleMissed,
    ScheduleTriggered,
)
from .project import (
    AgentAdded,
    AgentRemoved,
    MemoryUpdated,
    MessageAdded,
    SessionCreated,
    SessionDeleted,
    SessionRenamed,
    TeamRenamed,
)
from .schema import stream_event_schema, stream_event_type, validate_event
from .tasks import (
    AgentCompleted,
    AgentSpawned,
    AssessmentCompleted,
    AssessmentStarted,
    CheckpointApprovalRequested,
    CheckpointApprovalResolved,
    TaskApprovalRequested,
    TaskApprovalResolved,
    TaskCompleted,
    TaskCreated,
    TaskFix,
    TaskOutput,
    TaskRemoved,
    TaskRetry,
    TaskTimeout,
    TaskToolUse,
    TaskTransition,
    TaskUpdated,
)

__all__ = [
    "BudgetExceeded",
    "BudgetWarning",
    "AgentAdded",
    "AgentCompleted",
    "AgentRemoved",
    "AgentSpawned",
    "AssessmentCompleted",
    "AssessmentStarted",
    "CATALOG",
    "CatalogEvent",
    "CheckpointApprovalRequested",
    "CheckpointApprovalResolved",
    "CheckpointResumed",
    "CheckpointWaiting",
    "DelayElapsed",
    "DelayStarted",
    "GateBlocked",
    "GatePassed",
    "MemoryUpdated",
    "MessageAdded",
    "MissionAborted",
    "MissionCompleted",
    "MissionDeleted",
    "MissionExecuted",
    "MissionRerun",
    "MissionResumed",
    "MissionSaved",
    "MissionStatusChanged",
    "ScheduleFailed",
    "ScheduleMissed",
    "ScheduleTriggered",
    "SessionCreated",
    "SessionDeleted",
    "SessionRenamed",
    "TaskApprovalRequested",
    "TaskApprovalResolved",
    "TaskCompleted",
    "TaskCreated",
    "TaskFix",
    "TaskOutput",
    "TaskRemoved",
    "TaskRetry",
    "TaskTimeout",
    "TaskToolUse",
    "TaskTransition",
    "TaskUpdated",
    "TeamRenamed",
    "event",
    "stream_event_schema",
    "stream_event_type",
    "validate_event",
]
