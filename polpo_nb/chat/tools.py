"""The orchestrator's tools: the project's public API, one row of `TOOLS` per tool.

A row names the tool, says what it does (the model reads that), gives the pydantic model of its
arguments (its JSON schema is the tool's schema, so the model sees the same field names, types and
enums as an HTTP client of the same operation) and the call it makes on `AsyncProject`. Nothing here
re-implements the engine: a tool is a call and a rendering of its result.

A call that fails — invalid arguments, an unknown id, an illegal transition — answers the model with
`{"ok": false, "error", "code"}` instead of raising, so the model can correct itself and the
conversation goes on.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, ValidationError

from ..errors import NotFoundError, PolpoError
from ..spec import (
    Agent,
    Mission,
    MissionRecord,
    MissionStatus,
    ProjectConfig,
    Task,
    TaskStatus,
    WireModel,
    spec_error,
    to_jsonable,
)
from ..spec.partial import partial_model

if TYPE_CHECKING:
    from ..project.aproject import AsyncProject

log = logging.getLogger(__name__)

__all__ = ["TOOLS", "ToolSpec", "run_tool", "tool_by_name"]

#: A tool's answer is cut here (JSON characters): a model's context is not a database dump.
RESULT_CHARS = 24_000
_READ_CHARS = 50_000
_LIST_ENTRIES = 500
_MAX_WAIT_SECONDS = 600.0


# == argument models ===================================================================================

class NoArgs(WireModel):
    pass


TaskChanges = partial_model(Task, "TaskChanges")
MissionChanges = partial_model(Mission, "MissionChanges")
_MISSION = Field(description="The mission's id (msn_...) or its name.")
_TASK = Field(description="The task's id (task_...).")


class TaskRef(WireModel):
    task_id: str = _TASK


class TaskFilter(WireModel):
    status: TaskStatus | None = Field(default=None, description="Only tasks in this status.")
    mission: str | None = Field(default=None, description="Only tasks of this mission (id or name).")
    assign_to: str | None = Field(default=None, description="Only tasks assigned to this agent.")


class TaskUpdate(WireModel):
    task_id: str = _TASK
    changes: TaskChanges = Field(description="The fields to change (the task must not be running).")  # type: ignore[valid-type]


class Decision(WireModel):
    task_id: str = _TASK
    note: str | None = Field(default=None, description="Why: recorded with the decision.")


class MissionRef(WireModel):
    mission: str = _MISSION


class MissionFilter(WireModel):
    status: MissionStatus | None = Field(default=None, description="Only missions in this status.")


class MissionUpdate(WireModel):
    mission: str = _MISSION
    changes: MissionChanges = Field(description="The fields to change. `tasks`, if given, replaces the task "  # type: ignore[valid-type]
                                    "list (matched by title) and is refused while the mission runs.")


class MissionTaskAdd(WireModel):
    mission: str = _MISSION
    task: Task = Field(description="The new task (scheduled at once if the mission is running).")


class MissionTaskUpdate(WireModel):
    mission: str = _MISSION
    task_id: str = _TASK
    changes: TaskChanges = Field(description="The fields to change.")  # type: ignore[valid-type]


class MissionTaskRef(WireModel):
    mission: str = _MISSION
    task_id: str = _TASK


class Resume(WireModel):
    mission: str = _MISSION
    retry_failed: bool = Field(default=False, description="Also re-queue the failed tasks of a failed mission.")


class Rerun(WireModel):
    mission: str = _MISSION
    from_task: str = Field(min_length=1, description="The task (title or id) to re-run from: it and every task "
                                                     "downstream of it run again.")


class WaitFor(WireModel):
    mission: str = _MISSION
    timeout_seconds: float = Field(default=60.0, gt=0, le=_MAX_WAIT_SECONDS,
                                   description="Give up waiting after this many seconds (the run goes on).")


class Schedule(WireModel):
    mission: str = _MISSION
    schedule: str | None = Field(description="A cron expression (`0 9 * * 1-5`, recurring) or an ISO 8601 "
                                 "timestamp (once); null removes the schedule.")
    end_date: str | None = Field(default=None, description="ISO 8601: last date a recurring schedule fires.")


class AgentName(WireModel):
    name: str = Field(description="The agent's name.")


class TeamName(WireModel):
    name: str = Field(min_length=1, description="The team's new name.")


class MemoryText(WireModel):
    content: str = Field(description="Markdown text.")


class FilesArgs(WireModel):
    path: str = Field(default=".", description="A folder relative to the project root (e.g. `.polpo/output`).")


class ReadArgs(WireModel):
    path: str = Field(description="A file relative to the project root.")
    max_chars: int = Field(default=20_000, ge=1, le=_READ_CHARS, description="Characters to return at most.")


class LogArgs(WireModel):
    session_id: str | None = Field(default=None, description="A log session (`<taskId>-<attempt>`); without "
                                   "it, the list of sessions.")
    tail: int = Field(default=100, ge=1, le=1000, description="The last entries of a session to return.")


# == calls =============================================================================================

Call = Callable[["AsyncProject", Any], Awaitable[Any]]


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    args: type[BaseModel]
    call: Call

    @property
    def schema(self) -> dict[str, Any]:
        return _schema(self.args)


@cache
def _schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(by_alias=True)
    schema.pop("title", None)
    return schema


async def _status(p: AsyncProject, a: NoArgs) -> dict[str, Any]:
    state = await p.state()
    counts: dict[str, int] = {}
    for task in state.tasks:
        counts[task.status.value] = counts.get(task.status.value, 0) + 1
    return {"project": state.project.to_wire(), "taskCounts": counts,
            "missions": [{"id": m.id, "name": m.name, "status": m.status.value, "taskCount": m.task_count}
                         for m in state.missions],
            "agents": [a.name for a in state.agents], "running": [r.to_wire() for r in state.processes]}


async def _summaries(p: AsyncProject, a: TaskFilter) -> list[dict[str, Any]]:
    tasks = await p.list_tasks(status=a.status.value if a.status else None, group=a.mission, assign_to=a.assign_to)
    return [{"id": t.id, "title": t.title, "status": t.status.value, "assignTo": t.assign_to, "mission": t.group,
             "score": t.assessment.score if t.assessment else None} for t in tasks]


async def _missions(p: AsyncProject, a: MissionFilter) -> list[dict[str, Any]]:
    missions = await p.list_missions(status=a.status.value if a.status else None)
    return [{"id": m.id, "name": m.name, "status": m.status.value, "taskCount": m.task_count,
             "schedule": m.schedule} for m in missions]


async def _started(handle: Any) -> dict[str, Any]:
    record = await handle.project.get_mission(handle.mission_id) if handle.mission_id else \
        await handle.project.get_task(handle.task_id)
    key = "missionId" if handle.mission_id else "taskId"
    return {key: record.id, "status": record.status.value,
            "note": "started: it runs in the background; use wait_for_mission or get_status to follow it"}


async def _wait(p: AsyncProject, a: WaitFor) -> dict[str, Any]:
    from ..project.handles import RunHandle

    mission = await p.get_mission(a.mission)
    handle = RunHandle(p, mission.id, mission_id=mission.id)
    try:
        async with asyncio.timeout(a.timeout_seconds):
            settled = await handle.wait_async()
        assert isinstance(settled, MissionRecord)  # a mission's handle answers its mission
        record = settled
    except TimeoutError:
        record = await p.get_mission(mission.id)
        return {"missionId": record.id, "status": record.status.value, "settled": False,
                "note": f"still running after {a.timeout_seconds:g} s"}
    return {"missionId": record.id, "status": record.status.value, "settled": True,
            "tasks": [{"id": t.id, "title": t.title, "status": t.status.value,
                       "score": t.assessment.score if t.assessment else None,
                       "result": (t.result.content[:500] if t.result and t.result.content else None),
                       "error": t.result.error if t.result else None} for t in record.tasks]}


async def _pending(p: AsyncProject, a: NoArgs) -> dict[str, Any]:
    tasks = await p.list_tasks(status=TaskStatus.AWAITING_APPROVAL.value)
    paused = await p.list_missions(status=MissionStatus.PAUSED.value)
    return {"tasks": [{"id": t.id, "title": t.title, "mission": t.group, "assignTo": t.assign_to} for t in tasks],
            "pausedMissions": [{"id": m.id, "name": m.name, "pauseReason": m.pause_reason,
                                "pauseMessage": m.pause_message} for m in paused]}


async def _agent(p: AsyncProject, a: AgentName) -> Agent:
    for agent in await p.list_agents():
        if agent.name == a.name:
            return agent
    raise NotFoundError(f"Agent not found: {a.name}")


async def _files(p: AsyncProject, a: FilesArgs) -> dict[str, Any]:
    # the project's own files: a project nested in it is another one (its own tools, its own keys; the
    # server's files routes refuse it to a project key, and these tools cannot tell who calls them)
    listing = await p.list_files(a.path, nested=False)
    entries = sorted(listing.entries, key=lambda e: e.name)[:_LIST_ENTRIES]
    return {"path": listing.path, "entries": [{"name": e.name + ("/" if e.type == "directory" else ""),
                                               "size": e.size} for e in entries]}


async def _read(p: AsyncProject, a: ReadArgs) -> dict[str, Any]:
    target = await p.file_path(a.path, nested=False)  # the project's sandbox and own files, as `_files`
    data = target.read_bytes()
    if b"\x00" in data[:8192]:
        return {"path": a.path, "binary": True, "size": len(data)}
    text = data.decode("utf-8", errors="replace")
    return {"path": a.path, "content": text[:a.max_chars], "truncated": len(text) > a.max_chars}


async def _logs(p: AsyncProject, a: LogArgs) -> Any:
    if a.session_id is None:
        return await p.log_sessions()
    return (await p.log(a.session_id))[-a.tail:]


async def _config(p: AsyncProject, a: NoArgs) -> ProjectConfig:
    return p.config  # rendered by run_tool as the API renders it: MCP servers' literal secrets redacted


async def _schedule(p: AsyncProject, a: Schedule) -> Any:
    return await p.update_mission(a.mission, {"schedule": a.schedule, "endDate": a.end_date})


def _changes(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True, exclude_unset=True)


def _deleted(what: str) -> Callable[[Any], Awaitable[dict[str, Any]]]:
    async def done(awaitable: Any) -> dict[str, Any]:
        await awaitable
        return {"deleted": what}
    return done


def _t(name: str, description: str, args: type[BaseModel], call: Call) -> ToolSpec:
    return ToolSpec(name, description, args, call)


# == the table =========================================================================================

def _table() -> list[ToolSpec]:
    """The tools, built in a function rather than at module level: a type checker can then wait for the
    project's decorated methods that the tools call (the two modules import each other for typing)."""
    return [
        # -- project ----------------------------------------------------------------------------------------
        _t("get_status", "The project at a glance: task counts by status, missions with their status, agents, "
           "and the attempts running now.", NoArgs, _status),
        _t("get_config", "The project's orchestrator config (models, concurrency, providers).", NoArgs, _config),
        # -- tasks -----------------------------------------------------------------------------------------
        _t("list_tasks", "List tasks (id, title, status, agent, mission, score), optionally filtered.", TaskFilter,
           _summaries),
        _t("get_task", "A task in full: definition, status, result, assessment, retries.", TaskRef,
           lambda p, a: p.get_task(a.task_id)),
        _t("create_task", "Create a standalone task (status draft) assigned to an existing agent; run it with "
           "execute_task.", Task, lambda p, a: p.create_task(a)),
        _t("update_task", "Change a task's definition (title, description, priority, expectations, ...); the task "
           "must not be running.", TaskUpdate, lambda p, a: p.update_task(a.task_id, _changes(a.changes))),
        _t("delete_task", "Delete a task that is not running.", TaskRef,
           lambda p, a: _deleted(a.task_id)(p.delete_task(a.task_id))),
        _t("execute_task", "Run a standalone task now (in the background).", TaskRef,
           lambda p, a: p.execute_task(a.task_id)),
        _t("retry_task", "Retry a failed task (back to pending; its mission resumes it).", TaskRef,
           lambda p, a: p.retry_task(a.task_id)),
        _t("kill_task", "Kill a running task (it fails).", TaskRef, lambda p, a: p.kill_task(a.task_id)),
        _t("reassess_task", "Run a finished task's assessment again on its stored result.", TaskRef,
           lambda p, a: p.reassess_task(a.task_id)),
        _t("approve_task", "Approve a task awaiting approval (it becomes done).", Decision,
           lambda p, a: p.approve_task(a.task_id, a.note)),
        _t("reject_task", "Reject a task awaiting approval (it fails).", Decision,
           lambda p, a: p.reject_task(a.task_id, a.note)),
        _t("get_task_attempts", "Every attempt of a task: phase, agent, model, status, timing.", TaskRef,
           lambda p, a: p.attempts(a.task_id)),
        # -- missions --------------------------------------------------------------------------------------
        _t("list_missions", "List missions (id, name, status, task count, schedule).", MissionFilter, _missions),
        _t("get_mission", "A mission in full, with its tasks and their status, results and scores.", MissionRef,
           lambda p, a: p.get_mission(a.mission)),
        _t("create_mission", "Save a new mission (status draft): a name, an optional prompt, and tasks, each "
           "assigned to an existing agent (or to one of the mission's own `team`). Tasks may depend on others "
           "by title (`dependsOn`) and carry expectations. Run it with execute_mission.", Mission,
           lambda p, a: p.save_mission(a)),
        _t("update_mission", "Change a mission's definition.", MissionUpdate,
           lambda p, a: p.update_mission(a.mission, _changes(a.changes))),
        _t("delete_mission", "Delete a mission and its tasks (abort a running one first).", MissionRef,
           lambda p, a: _deleted(a.mission)(p.delete_mission(a.mission))),
        _t("add_mission_task", "Add a task to a mission (scheduled at once if the mission is running).",
           MissionTaskAdd, lambda p, a: p.add_mission_task(a.mission, a.task)),
        _t("update_mission_task", "Change a task of a mission.", MissionTaskUpdate,
           lambda p, a: p.update_mission_task(a.mission, a.task_id, _changes(a.changes))),
        _t("remove_mission_task", "Remove a task from a mission.", MissionTaskRef,
           lambda p, a: _deleted(a.task_id)(p.remove_mission_task(a.mission, a.task_id))),
        _t("execute_mission", "Start a saved mission; it runs in the background (follow it with "
           "wait_for_mission).", MissionRef, lambda p, a: p.execute_mission(a.mission)),
        _t("wait_for_mission", "Wait until a mission settles (completed, failed, paused, or waiting for an "
           "approval), at most `timeoutSeconds`; answers its status and its tasks' outcomes.", WaitFor, _wait),
        _t("resume_mission", "Resume a paused or interrupted mission (or a failed one with retryFailed).", Resume,
           lambda p, a: p.resume_mission(a.mission, retry_failed=a.retry_failed)),
        _t("rerun_mission", "Run a completed, failed, cancelled or paused mission again from one of its tasks: it "
           "and everything downstream of it re-execute, the results upstream are reused (refused while the "
           "mission runs).", Rerun, lambda p, a: p.rerun_mission(a.mission, from_task=a.from_task)),
        _t("abort_mission", "Abort a running or paused mission: running tasks are killed.", MissionRef,
           lambda p, a: p.abort_mission(a.mission)),
        _t("list_resumable_missions", "Missions that can be resumed: paused ones, and active ones whose process "
           "stopped.", NoArgs, lambda p, a: p.resumable_missions()),
        _t("list_pending_approvals", "What waits for a human: tasks awaiting approval and paused missions "
           "(checkpoints, blocked gates).", NoArgs, _pending),
        _t("schedule_mission", "Schedule a mission: a cron expression (recurring) or an ISO 8601 time (once).",
           Schedule, _schedule),
        _t("get_schedule_history", "What happened to each occurrence of a mission's schedule.", MissionRef,
           lambda p, a: p.schedule_history(a.mission)),
        # -- agents ----------------------------------------------------------------------------------------
        _t("list_agents", "List the project's agents (name, role, model or handler, tools).", NoArgs,
           lambda p, a: p.list_agents()),
        _t("get_agent", "One agent's definition.", AgentName, _agent),
        _t("add_agent", "Add an agent: an LLM (`model`, `systemPrompt`, `allowedTools`) or a Python function "
           "(`handler: module:function`).", Agent, lambda p, a: p.add_agent(a)),
        _t("remove_agent", "Remove an agent.", AgentName, lambda p, a: _deleted(a.name)(p.remove_agent(a.name))),
        _t("get_team", "The team: its name and agents.", NoArgs, lambda p, a: p.get_team()),
        _t("rename_team", "Rename the team.", TeamName, lambda p, a: p.rename_team(a.name)),
        _t("list_processes", "The attempts running now: task, agent, phase, process.", NoArgs,
           lambda p, a: p.processes()),
        # -- memory, files, logs ---------------------------------------------------------------------------
        _t("get_memory", "The project memory (markdown every agent can read).", NoArgs, lambda p, a: p.get_memory()),
        _t("update_memory", "Replace the project memory.", MemoryText, lambda p, a: p.put_memory(a.content)),
        _t("append_memory", "Append a note to the project memory.", MemoryText, lambda p, a: p.append_memory(a.content)),
        _t("list_files", "List a folder of the project (sandboxed to the project and .polpo/).", FilesArgs, _files),
        _t("read_file", "Read a text file of the project (e.g. an agent's deliverable).", ReadArgs, _read),
        _t("get_logs", "Log sessions (one per task attempt), or the last entries of one session.", LogArgs, _logs),
    ]


TOOLS: list[ToolSpec] = _table()

_BY_NAME = {spec.name: spec for spec in TOOLS}
assert len(_BY_NAME) == len(TOOLS), "tool names are unique"


def tool_by_name(name: str) -> ToolSpec:
    return _BY_NAME[name]


async def run_tool(project: AsyncProject, spec: ToolSpec, arguments: dict[str, Any]) -> tuple[Any, bool]:
    """(JSON-able answer, ok). Never raises for a bad call: the model gets the error instead."""
    try:
        args = spec.args.model_validate(arguments or {})
    except ValidationError as exc:
        error = spec_error(exc)
        return {"ok": False, "error": f"invalid arguments: {error.message}", "code": "BAD_REQUEST"}, False
    try:
        value = await spec.call(project, args)
        if hasattr(value, "mission_id") and hasattr(value, "wait_async"):  # a RunHandle: the run started
            value = await _started(value)
    except PolpoError as exc:
        return {"ok": False, "error": exc.public_message, "code": exc.code}, False
    except Exception:  # noqa: BLE001 - a bug in a call must not end the conversation
        # its text may hold a server's paths or data: the model (and the client, shown each tool's result,
        # or the MCP client) reads that it failed, the log has why
        log.exception("tool %s failed on an internal error", spec.name)
        return {"ok": False, "error": f"{spec.name} failed on an internal error (the log says which)",
                "code": "INTERNAL"}, False
    return to_jsonable(value), True



def render(value: Any) -> str:
    """A tool's answer as the text the model reads, cut to RESULT_CHARS."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= RESULT_CHARS else text[:RESULT_CHARS] + f"...[cut at {RESULT_CHARS} of {len(text)}]"


