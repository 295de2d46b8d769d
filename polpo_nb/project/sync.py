"""`Project`: the blocking face of a project, for notebooks and scripts.

Its engine runs on a private `EngineThread`, so missions keep running between notebook cells and
`project.execute(...)` returns at once. Each method below blocks on the AsyncProject coroutine of the
same name; `project.aio` is the AsyncProject itself for `await`-style code.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..agents.models import ModelRegistry
from ..events.bus import Subscription
from ..events.model import Event
from ..executors import Executor
from .aproject import AsyncProject
from .handles import RunHandle
from .loop import EngineThread

if TYPE_CHECKING:
    from distributed import Client


def _blocking(name: str) -> Callable[..., Any]:
    coro_fn = getattr(AsyncProject, name)

    @functools.wraps(coro_fn)
    def method(self: Project, *args: Any, **kwargs: Any) -> Any:
        return self._thread.call(getattr(self.aio, name)(*args, **kwargs))

    return method


class Project:
    """`polpo.Project(path=".")`: open (or create) the project in `path`."""

    def __init__(self, path: str | Path = ".", *, config: dict[str, Any] | None = None,
                 executor: Executor | Client | None = None) -> None:
        """`executor`: an Executor, or a `distributed.Client` whose cluster runs the task bodies."""
        self._thread = EngineThread()
        try:
            self.aio: AsyncProject = self._thread.call(AsyncProject.open(path, config=config, executor=executor))
        except BaseException:
            self._thread.stop()
            raise

    @property
    def root(self) -> Path:
        return self.aio.root

    @property
    def id(self) -> str:
        return self.aio.id

    @property
    def models(self) -> ModelRegistry:
        """Model strings to pydantic-ai models: `project.models.register("scripted", FunctionModel(...))`."""
        return self.aio.models

    def __repr__(self) -> str:
        return f"<polpo.Project {self.id!r} at {self.root}>"

    # registration (no engine round-trip needed)
    def agent(self, name: str, **spec: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self.aio.agent(name, **spec)

    def judge(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        return self.aio.judge(fn)

    def subscribe(self, callback: Callable[[Event], None], pattern: str | Iterable[str] | None = None) -> Subscription:
        return self.aio.subscribe(callback, pattern)

    def replay(self, after: int = 0, pattern: str | Iterable[str] | None = None) -> list[Event]:
        return self.aio.replay(after, pattern)

    def execute(self, mission: Any) -> RunHandle:
        """Start a mission (a Mission, a dict, or a saved mission's id or name); returns at once."""
        return self.execute_mission(mission)

    def resume(self, mission: str, *, retry_failed: bool = False) -> RunHandle:
        return self.resume_mission(mission, retry_failed=retry_failed)

    def abort(self, mission: str) -> Any:
        return self.abort_mission(mission)

    def release_runs(self) -> None:
        """Give up this process's runs at once (any thread, no engine round-trip): see AsyncProject."""
        self.aio.release_runs()

    def chat(self, messages: Any, *, session_id: str | None = None, agent: str | None = None, stream: bool = False,
             max_turns: int | None = None, model: str | None = None, settings: dict[str, Any] | None = None) -> Any:
        """Talk to the orchestrator (or to `agent`): a ChatReply, or with `stream=True` a ChatStream to
        iterate with `for chunk in stream` (blocking) while the turn runs on the engine thread."""
        return self._thread.call(self.aio.chat(messages, session_id=session_id, agent=agent, stream=stream,
                                               max_turns=max_turns, model=model, settings=settings))

    # pandas views (polpo_nb.notebook.views)
    def tasks_df(self, *, mission: str | None = None, status: str | None = None, agent: str | None = None) -> Any:
        """A DataFrame of tasks (all, or one mission's), optionally filtered by status and agent."""
        from ..notebook.views import tasks_df

        return tasks_df(self, mission=mission, status=status, agent=agent)

    def missions_df(self, *, status: str | None = None) -> Any:
        """A DataFrame of missions with task counts and mean score."""
        from ..notebook.views import missions_df

        return missions_df(self, status=status)

    def events_df(self, since: Any = None, pattern: str | Iterable[str] | None = None) -> Any:
        """A DataFrame of events after an id, since a time or within a timedelta; `pattern` filters names."""
        from ..notebook.views import events_df

        return events_df(self, since, pattern)

    def close(self) -> None:
        if not self._thread.loop.is_closed():
            self._thread.call(self.aio.close())
            self._thread.stop()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    list_agents = _blocking("list_agents")
    add_agent = _blocking("add_agent")
    remove_agent = _blocking("remove_agent")
    get_team = _blocking("get_team")
    rename_team = _blocking("rename_team")
    processes = _blocking("processes")
    list_tasks = _blocking("list_tasks")
    get_task = _blocking("get_task")
    create_task = _blocking("create_task")
    update_task = _blocking("update_task")
    delete_task = _blocking("delete_task")
    execute_task = _blocking("execute_task")
    retry_task = _blocking("retry_task")
    kill_task = _blocking("kill_task")
    reassess_task = _blocking("reassess_task")
    approve_task = _blocking("approve_task")
    reject_task = _blocking("reject_task")
    attempts = _blocking("attempts")
    list_missions = _blocking("list_missions")
    resumable_missions = _blocking("resumable_missions")
    get_mission = _blocking("get_mission")
    save_mission = _blocking("save_mission")
    update_mission = _blocking("update_mission")
    delete_mission = _blocking("delete_mission")
    add_mission_task = _blocking("add_mission_task")
    update_mission_task = _blocking("update_mission_task")
    remove_mission_task = _blocking("remove_mission_task")
    execute_mission = _blocking("execute_mission")
    resume_mission = _blocking("resume_mission")
    abort_mission = _blocking("abort_mission")
    interrupt_mission = _blocking("interrupt_mission")
    get_memory = _blocking("get_memory")
    put_memory = _blocking("put_memory")
    append_memory = _blocking("append_memory")
    state = _blocking("state")
    log_sessions = _blocking("log_sessions")
    list_files = _blocking("list_files")
    preview_file = _blocking("preview_file")
    file_path = _blocking("file_path")
    chat_sessions = _blocking("chat_sessions")
    chat_session = _blocking("chat_session")
    chat_messages = _blocking("chat_messages")
    rename_chat_session = _blocking("rename_chat_session")
    delete_chat_session = _blocking("delete_chat_session")
    log = _blocking("log")
