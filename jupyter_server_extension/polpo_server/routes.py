"""THE table of routes: one line per route, shared by both API dialects and by the OpenAPI document.

A route names its method, its path (relative to a project, or to the API root for `scope="server"`),
the library call it makes, the model its body is validated with, the type it answers and the kind of
handler that renders it. `dialects.py` decides where a route is mounted and how its answer looks;
`handlers.py` turns a row into a tornado handler. Adding a route is adding a row here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from polpo_nb import AsyncProject
from polpo_nb.chat import ChatMessage, ChatSession, ChatSessionPatch
from polpo_nb.chat.completions import ChatCompletion, CompletionRequest
from polpo_nb.project.keys import ApiKeys
from polpo_nb.spec import (
    Agent,
    FileListing,
    FilePreview,
    Mission,
    MissionRecord,
    ProjectConfig,
    Task,
    TaskRecord,
    Team,
)
from polpo_nb.spec.keys import ApiKey, CreatedApiKey, NewApiKey
from polpo_nb.spec.state import LogEntry, LogSession, Process, ProjectInfo, ProjectState
from polpo_nb.usage.rollup import MissionUsage

from .context import ServerContext
from .lists import mission_list, task_list
from .models import (
    DecisionBody,
    Deleted,
    EventsQuery,
    ExecuteQuery,
    FilesQuery,
    Health,
    Memory,
    MemoryBody,
    MissionPatch,
    MissionQuery,
    PreviewQuery,
    QueryModel,
    ReadQuery,
    RerunBody,
    ResumeBody,
    StreamEvent,
    TaskPatch,
    TaskQuery,
    TeamRename,
)
from .streams import MISSION_STREAM, TASK_STREAM, ExecuteStream

Kind = Literal["json", "events", "execute", "file", "websocket", "chat"]
Scope = Literal["project", "server"]


@dataclass
class Call:
    """What a route's library call gets: the project, the path parameters, the validated query and body."""

    app: ServerContext
    project: AsyncProject  # None for server-scoped routes
    params: dict[str, str]
    url: str = ""
    query: Any = None
    body: Any = None
    authenticated: bool = True
    last_event_id: int | None = None
    #: the project key the request came with (keyauth.Principal), if any
    principal: Any = None

    def __getitem__(self, name: str) -> str:
        return self.params[name]


CallFn = Callable[[Call], Awaitable[Any]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    call: CallFn
    summary: str
    body: type | None = None
    response: Any = None
    query: type[QueryModel] | None = None
    kind: Kind = "json"
    status: int = 200
    scope: Scope = "project"
    #: PATCH: the fields sent are handed to the library as they are (it validates the merged resource).
    partial: bool = False
    #: Answered as is, in both dialects (the OpenAPI document is not wrapped in an envelope).
    raw: bool = False
    #: execute routes: how library events become the seed's stream events.
    stream: ExecuteStream | None = None
    #: execute routes: stream unless the client accepts only JSON (True), or only if it asks for SSE.
    stream_by_default: bool = True
    #: a pure read of the store: its rendering is reused (and ETagged) while the state is unchanged
    cache: bool = False
    tags: tuple[str, ...] = field(default=())

    @property
    def params(self) -> list[str]:
        return [seg[1:-1] for seg in self.path.split("/") if seg.startswith("{")]


async def _value(value: Any) -> Any:
    return value


async def _deleted(done: Awaitable[None], ident: str) -> Deleted:
    await done
    return Deleted(id=ident)


async def _health(c: Call) -> Health:
    if not c.authenticated:
        return Health()
    if _key_root(c) is not None:  # a project key knows its own project, not how many this server has open
        return Health(version=c.app.version)
    return Health(version=c.app.version, projects=len(c.app.registry.open_projects))


def _memory(text: str) -> Memory:
    return Memory(content=text)


async def _memory_of(c: Call) -> Memory:
    return _memory(await c.project.get_memory())


async def _put_memory(c: Call) -> Memory:
    return _memory(await c.project.put_memory(c.body.content))


def _events(c: Call) -> Any:
    return c.project.events(c.query.filter if c.query else None, after=c.last_event_id)


async def _preview(c: Call) -> FilePreview:
    preview = await c.project.preview_file(c.query.path, c.query.max_lines, nested=_sees_nested(c))
    if preview.content is None:  # not text: where `files/read` serves its bytes
        preview.url = f"{c.url.rsplit('/', 1)[0]}/read?path={quote(preview.path)}"
    return preview


async def _team_rename(c: Call) -> Team:
    return await c.project.rename_team(c.body.name)


def _chat(c: Call) -> Any:
    body: CompletionRequest = c.body
    return c.project.chat(body.chat_messages(), session_id=body.session_id, agent=body.agent, stream=body.stream,
                          settings=body.settings())


def _key_root(c: Call) -> Path | None:
    """The project of the request's project key; None with the server's own credentials (or none)."""
    return c.principal.root if c.principal is not None and c.principal.key is not None else None


def _sees_nested(c: Call) -> bool:
    """Whether the files routes reach the projects nested in this one: with the server's own credentials
    only (as Jupyter's contents API does; the widget links a nested project's notebooks so). Not with a
    project key, nor anonymously on a server without credentials: a nested project may have keys of its own."""
    return c.principal is not None and c.principal.kind == "server"


async def _projects(c: Call) -> list[ProjectInfo]:
    """Every project; a project key sees its own only. (Its files routes do not reach the projects nested
    in its own either.)"""
    projects = await c.app.registry.list()
    own = _key_root(c)
    return [p for p in projects if own is None or (c.app.registry.root / p.path).resolve() == own]


def _keys(c: Call) -> ApiKeys:
    return c.app.key_gate.ring(c.project.root)


def _revoke_key(c: Call) -> Awaitable[ApiKey]:
    return asyncio.to_thread(_keys(c).revoke, c["keyId"])


def _decision(c: Call) -> str | None:
    return c.body.note if c.body else None


ROUTES: list[Route] = [
    # -- server ---------------------------------------------------------------------------------------
    Route("GET", "health", _health, "Server health (`{status: ok}` without credentials)", response=Health,
          scope="server", tags=("server",)),
    Route("GET", "projects", _projects, "List projects: the root and every directory "
          "with a `.polpo/` below it", response=list[ProjectInfo], scope="server", tags=("server",)),
    Route("GET", "openapi.json", lambda c: _value(c.app.openapi()), "This document", response=dict[str, Any],
          scope="server", raw=True, tags=("server",)),
    # -- project --------------------------------------------------------------------------------------
    Route("GET", "state", lambda c: c.project.state(), "Full state snapshot", response=ProjectState, cache=True,
          tags=("project",)),
    Route("GET", "config", lambda c: _value(c.project.config), "Orchestrator config", response=ProjectConfig,
          tags=("project",)),
    Route("GET", "openapi.json", lambda c: _value(c.app.openapi()), "This document", response=dict[str, Any],
          raw=True, tags=("project",)),
    # -- tasks ----------------------------------------------------------------------------------------
    Route("GET", "tasks", lambda c: task_list(c.project, c.query, c.app.render_cache.task_lists),
          "List tasks in creation order (filter by status, group, assignTo; a page with limit and cursor)", query=TaskQuery, response=list[TaskRecord], cache=True,
          tags=("tasks",)),
    Route("POST", "tasks", lambda c: c.project.create_task(c.body), "Create a task (status draft)", body=Task,
          response=TaskRecord, status=201, tags=("tasks",)),
    Route("GET", "tasks/{taskId}", lambda c: c.project.get_task(c["taskId"]), "Get a task", response=TaskRecord,
          cache=True, tags=("tasks",)),
    Route("PATCH", "tasks/{taskId}", lambda c: c.project.update_task(c["taskId"], c.body), "Update a task",
          body=TaskPatch, partial=True, response=TaskRecord, tags=("tasks",)),
    Route("DELETE", "tasks/{taskId}", lambda c: _deleted(c.project.delete_task(c["taskId"]), c["taskId"]),
          "Delete a task that is not running", response=Deleted, tags=("tasks",)),
    Route("POST", "tasks/{taskId}/retry", lambda c: c.project.retry_task(c["taskId"]), "Retry a failed task",
          response=TaskRecord, tags=("tasks",)),
    Route("POST", "tasks/{taskId}/kill", lambda c: c.project.kill_task(c["taskId"]), "Kill a running task",
          response=TaskRecord, tags=("tasks",)),
    Route("POST", "tasks/{taskId}/reassess", lambda c: c.project.reassess_task(c["taskId"]),
          "Assess the stored result again", response=TaskRecord, tags=("tasks",)),
    Route("POST", "tasks/{taskId}/approve", lambda c: c.project.approve_task(c["taskId"], _decision(c)),
          "Approve a task awaiting approval", body=DecisionBody, response=TaskRecord, tags=("tasks",)),
    Route("POST", "tasks/{taskId}/reject", lambda c: c.project.reject_task(c["taskId"], _decision(c)),
          "Reject a task awaiting approval", body=DecisionBody, response=TaskRecord, tags=("tasks",)),
    Route("POST", "tasks/{taskId}/execute", lambda c: c.project.execute_task(c["taskId"]),
          "Execute a task: an SSE stream (status, phase, output, tool_use, assessment, done, error)",
          query=ExecuteQuery, response=TaskRecord, kind="execute", stream=TASK_STREAM, tags=("tasks",)),
    # -- missions -------------------------------------------------------------------------------------
    Route("GET", "missions", lambda c: mission_list(c.project, c.query, c.app.render_cache.records), "List missions",
          query=MissionQuery, response=list[MissionRecord], cache=True, tags=("missions",)),
    Route("GET", "missions/resumable", lambda c: c.project.resumable_missions(), "List resumable missions",
          response=list[MissionRecord], tags=("missions",)),
    Route("GET", "missions/{missionId}", lambda c: c.project.get_mission(c["missionId"]),
          "Get a mission (by id or name) with its tasks", response=MissionRecord, cache=True, tags=("missions",)),
    Route("POST", "missions", lambda c: c.project.save_mission(c.body), "Save a mission (status draft)",
          body=Mission, response=MissionRecord, status=201, tags=("missions",)),
    Route("PATCH", "missions/{missionId}", lambda c: c.project.update_mission(c["missionId"], c.body),
          "Update a mission", body=MissionPatch, partial=True, response=MissionRecord, tags=("missions",)),
    Route("DELETE", "missions/{missionId}",
          lambda c: _deleted(c.project.delete_mission(c["missionId"]), c["missionId"]),
          "Delete a mission and its tasks (abort a running one first)", response=Deleted, tags=("missions",)),
    Route("POST", "missions/{missionId}/execute", lambda c: c.project.execute_mission(c["missionId"]),
          "Execute a mission: an SSE stream (mission:status, task:status, task:output, task:assessment, "
          "gate:blocked, checkpoint:waiting, mission:done, error), or the mission as JSON if only JSON is accepted",
          query=ExecuteQuery, response=MissionRecord, kind="execute", stream=MISSION_STREAM, tags=("missions",)),
    Route("POST", "missions/{missionId}/resume",
          lambda c: c.project.resume_mission(c["missionId"], retry_failed=bool(c.body and c.body.retry_failed)),
          "Resume a paused (or interrupted, or failed with retryFailed) mission; streams if `Accept: "
          "text/event-stream`", body=ResumeBody, query=ExecuteQuery, response=MissionRecord, kind="execute",
          stream=MISSION_STREAM, stream_by_default=False, tags=("missions",)),
    Route("POST", "missions/{missionId}/rerun",
          lambda c: c.project.rerun_mission(c["missionId"], from_task=c.body.from_task),
          "Re-run a finished, failed, cancelled or paused mission from one of its tasks (`fromTask`): it and "
          "everything downstream of it re-execute, upstream results are reused; 409 while the mission runs. "
          "Streams if `Accept: text/event-stream`", body=RerunBody, query=ExecuteQuery, response=MissionRecord,
          kind="execute", stream=MISSION_STREAM, stream_by_default=False, tags=("missions",)),
    Route("POST", "missions/{missionId}/abort", lambda c: c.project.abort_mission(c["missionId"]), "Abort a mission",
          response=MissionRecord, tags=("missions",)),
    Route("GET", "missions/{missionId}/usage", lambda c: c.project.mission_usage(c["missionId"]),
          "What a mission spent (tokens, requests, tool calls, USD, wall time) in total and by task, agent and model "
          "(the judge's under `judge`; calls that could not be priced counted apart, never as free), and its budget "
          "against its current execution's spend", response=MissionUsage, tags=("missions",)),
    Route("POST", "missions/{missionId}/tasks", lambda c: c.project.add_mission_task(c["missionId"], c.body),
          "Add a task to a mission (scheduled at once if the mission runs)", body=Task, response=TaskRecord,
          status=201, tags=("missions",)),
    Route("PATCH", "missions/{missionId}/tasks/{taskId}",
          lambda c: c.project.update_mission_task(c["missionId"], c["taskId"], c.body), "Update a task of a mission",
          body=TaskPatch, partial=True, response=TaskRecord, tags=("missions",)),
    Route("DELETE", "missions/{missionId}/tasks/{taskId}",
          lambda c: _deleted(c.project.remove_mission_task(c["missionId"], c["taskId"]), c["taskId"]),
          "Remove a task from a mission", response=Deleted, tags=("missions",)),
    # -- agents ---------------------------------------------------------------------------------------
    Route("GET", "agents", lambda c: c.project.list_agents(), "List agents", response=list[Agent], cache=True,
          tags=("agents",)),
    Route("POST", "agents", lambda c: c.project.add_agent(c.body), "Add an agent", body=Agent, response=Agent,
          status=201, tags=("agents",)),
    Route("GET", "agents/team", lambda c: c.project.get_team(), "Get the team", response=Team, tags=("agents",)),
    Route("PATCH", "agents/team", _team_rename, "Rename the team", body=TeamRename, response=Team, tags=("agents",)),
    Route("GET", "agents/processes", lambda c: c.project.processes(), "Attempts running now",
          response=list[Process], tags=("agents",)),
    Route("DELETE", "agents/{name}", lambda c: _deleted(c.project.remove_agent(c["name"]), c["name"]),
          "Remove an agent", response=Deleted, tags=("agents",)),
    # -- memory, files, logs --------------------------------------------------------------------------
    Route("GET", "memory", _memory_of, "Get the project memory", response=Memory, tags=("memory",)),
    Route("PUT", "memory", _put_memory, "Replace the project memory", body=MemoryBody, response=Memory,
          tags=("memory",)),
    Route("GET", "files/list", lambda c: c.project.list_files(c.query.path, nested=_sees_nested(c)),
          "List a directory of the project", query=FilesQuery, response=FileListing, tags=("files",)),
    Route("GET", "files/read", lambda c: c.project.file_path(c.query.path, nested=_sees_nested(c)),
          "A file's bytes with its Content-Type (`download=1`: as an attachment)", query=ReadQuery, kind="file", tags=("files",)),
    Route("GET", "files/preview", _preview,
          "A file's preview: text content, or the URL of its bytes", query=PreviewQuery, response=FilePreview,
          tags=("files",)),
    Route("GET", "logs", lambda c: c.project.log_sessions(), "List log sessions", response=list[LogSession],
          cache=True, tags=("logs",)),
    Route("GET", "logs/{sessionId}", lambda c: c.project.log(c["sessionId"]), "A log session's entries",
          response=list[LogEntry], tags=("logs",)),
    # -- chat -----------------------------------------------------------------------------------------
    Route("POST", "chat/completions", _chat, "Talk to Polpo (OpenAI chat completions; `stream: true` for SSE "
          "chunks): the orchestrator runs its tool loop over this API, or `agent` answers directly",
          body=CompletionRequest, response=ChatCompletion, kind="chat", tags=("chat",)),
    Route("GET", "chat/sessions", lambda c: c.project.chat_sessions(), "List chat sessions (latest first)",
          response=list[ChatSession], tags=("chat",)),
    Route("GET", "chat/sessions/{sessionId}", lambda c: c.project.chat_session(c["sessionId"]), "Get a chat session",
          response=ChatSession, tags=("chat",)),
    Route("PATCH", "chat/sessions/{sessionId}", lambda c: c.project.rename_chat_session(c["sessionId"], c.body.title),
          "Rename a chat session", body=ChatSessionPatch, response=ChatSession, tags=("chat",)),
    Route("DELETE", "chat/sessions/{sessionId}",
          lambda c: _deleted(c.project.delete_chat_session(c["sessionId"]), c["sessionId"]), "Delete a chat session",
          response=Deleted, tags=("chat",)),
    Route("GET", "chat/sessions/{sessionId}/messages", lambda c: c.project.chat_messages(c["sessionId"]),
          "A session's messages, tool calls and tool results included", response=list[ChatMessage], tags=("chat",)),
    # -- API keys (the server's own credentials only: keyauth.ADMIN_TAG) ---------------------------------
    Route("GET", "keys", lambda c: asyncio.to_thread(_keys(c).list), "List the project's active API keys (never "
          "the keys themselves)", response=list[ApiKey], tags=("keys",)),
    Route("POST", "keys", lambda c: asyncio.to_thread(_keys(c).create, c.body.name, kind=c.body.kind),
          "Create an API key (`sk_live_...`, or `sk_test_...` for dry runs): the answer is the only time its "
          "text is shown", body=NewApiKey, response=CreatedApiKey, status=201, tags=("keys",)),
    Route("DELETE", "keys/{keyId}", _revoke_key, "Revoke an API key (by id or name): refused from the next "
          "request on", response=ApiKey, tags=("keys",)),
    # -- streams --------------------------------------------------------------------------------------
    Route("GET", "events", lambda c: _value(_events(c)), "Server-Sent Events: every event, replay after "
          "`Last-Event-ID`", query=EventsQuery, response=StreamEvent, kind="events", tags=("events",)),
    Route("GET", "ws", lambda c: _value(c.project), "WebSocket: every event until `subscribe`",
          query=EventsQuery, kind="websocket", tags=("events",)),
]


def route_groups(routes: list[Route] = ROUTES) -> list[tuple[Scope, str, dict[str, Route]]]:
    """Routes grouped by (scope, path), most specific paths first (`missions/resumable` before
    `missions/{missionId}`), since tornado takes the first pattern that matches."""
    groups: dict[tuple[Scope, str], dict[str, Route]] = {}
    for route in routes:
        methods = groups.setdefault((route.scope, route.path), {})
        if route.method in methods:
            raise ValueError(f"route {route.method} {route.path} is in the table twice")
        methods[route.method] = route
        kinds = {r.kind for r in methods.values()}
        if len(kinds) > 1:
            raise ValueError(f"path {route.path} mixes handler kinds {sorted(kinds)}")
    ordered = sorted(groups.items(), key=lambda item: [seg.startswith("{") for seg in item[0][1].split("/")])
    return [(scope, path, methods) for (scope, path), methods in ordered]


__all__ = ["ROUTES", "Call", "Route", "route_groups"]
