"""How the library's events become the event names of the execute streams of seeds 002 and 004.

Pure tables: an `ExecuteStream` says which payload key ties an event to the run (`taskId` or
`missionId`), how each library event is renamed (and reshaped, when the seed names a field the
library spells differently), and what is sent when the run settles: `done` / `mission:done` with the
record once it finished, or, for a mission that paused (checkpoint, gate) or waits for an approval,
`mission:status` with the reason, after which the stream closes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from polpo_nb.spec import MissionRecord, MissionStatus, TaskRecord, TaskStatus, to_jsonable
from polpo_nb.spec.status import TERMINAL_MISSION_STATES

Payload = dict[str, Any]
Mapper = Callable[[Payload], "tuple[str, Payload] | None"]


def _rename(name: str) -> Mapper:
    return lambda data: (name, data)


def _status(name: str) -> Mapper:
    return lambda data: (name, {**data, "status": data.get("to")})


def _phase(phase: str | None = None) -> Mapper:
    return lambda data: ("phase", {**data, "phase": phase or data.get("phase")})


def _attempt_error(data: Payload) -> tuple[str, Payload] | None:
    return None if data.get("ok", True) else ("error", data)


def _timeout(data: Payload) -> tuple[str, Payload]:
    return "error", {**data, "error": f"timed out after {data.get('maxDuration')} ms (maxDuration)"}


@dataclass(frozen=True)
class ExecuteStream:
    subject: str
    events: dict[str, Mapper]
    finish: Callable[[Any], tuple[str, Payload]]
    #: The closing event carries the mission's spend (`usage`: its totals, as `GET missions/:id/usage`).
    with_usage: bool = False

    def map(self, name: str, data: Payload, subject_id: str) -> tuple[str, Payload] | None:
        if data.get(self.subject) != subject_id:
            return None
        mapper = self.events.get(name)
        return mapper(data) if mapper else None


def _task_finish(task: TaskRecord) -> tuple[str, Payload]:
    return "done", task.to_wire()


def _mission_finish(mission: MissionRecord) -> tuple[str, Payload]:
    if mission.status in TERMINAL_MISSION_STATES:
        return "mission:done", to_jsonable(mission)  # as every answer: its team's literal MCP secrets redacted
    waiting = [t.id for t in mission.tasks if t.status == TaskStatus.AWAITING_APPROVAL]
    reason = mission.pause_reason or ("approval" if waiting else None)
    data: Payload = {"missionId": mission.id, "name": mission.name, "status": mission.status.value,
                     "settled": True, "pauseReason": reason, "pauseMessage": mission.pause_message,
                     "awaitingApproval": waiting}
    if mission.status == MissionStatus.ACTIVE and waiting:
        data["pauseMessage"] = data["pauseMessage"] or f"{len(waiting)} task(s) await approval"
    return "mission:status", {k: v for k, v in data.items() if v is not None}


#: Seed 002: status, phase, output, tool_use, assessment, done, error.
TASK_STREAM = ExecuteStream(
    subject="taskId",
    events={
        "task:transition": _status("status"),
        "agent:spawned": _phase(),
        "assessment:started": _phase("review"),
        "task:fix": _phase("fix"),
        "task:output": _rename("output"),
        "task:tool_use": _rename("tool_use"),
        "assessment:completed": _rename("assessment"),
        "agent:completed": _attempt_error,
        "task:timeout": _timeout,
    },
    finish=_task_finish,
)

#: Seed 004: mission:status, task:status, task:output, task:assessment, gate:blocked,
#: checkpoint:waiting, mission:done, error.
MISSION_STREAM = ExecuteStream(
    subject="missionId",
    events={
        "mission:status": _rename("mission:status"),
        "task:transition": _status("task:status"),
        "task:output": _rename("task:output"),
        "assessment:completed": _rename("task:assessment"),
        "gate:blocked": _rename("gate:blocked"),
        "checkpoint:waiting": _rename("checkpoint:waiting"),
        "agent:completed": _attempt_error,
        "task:timeout": _timeout,
    },
    finish=_mission_finish,
    with_usage=True,
)
