"""`Project`: the blocking face of a project, for notebooks and scripts.

Its engine runs on a private `EngineThread`, so missions keep running between notebook cells and
`project.execute(...)` returns at once. Each method below blocks on the AsyncProject coroutine of the
same name; `project.aio` is the AsyncProject itself for `await`-style code. The blocking methods are
derived from the coroutines (`_blocking`), with their parameters, return types and docstrings: what
`help(Project.create_task)`, IDE completion and the type checker see is the async method's signature.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from ..agents.models import ModelRegistry
from ..events.bus import Subscription
from ..events.model import Event
from ..executors import Executor
from ..spec import Mission, MissionRecord
from .aproject import AsyncProject
from .handles import RunHandle
from .keys import ApiKeys
from .loop import EngineThread

if TYPE_CHECKING:
    from distributed import Client


P = ParamSpec("P")
T = TypeVar("T")


def _blocking(coro_fn: Callable[Concatenate[AsyncProject, P], Coroutine[Any, Any, T]]
              ) -> Callable[Concatenate[Project, P], T]:
    """The blocking twin of an AsyncProject coroutine method: the same parameters (ParamSpec), its
    result instead of a coroutine, the same name and docstring (`functools.wraps`, whose `__wrapped__`
    gives `inspect.signature` the async method's). The coroutine runs on the project's engine thread;
    it is looked up on `project.aio` at each call, like any method."""
    name = coro_fn.__name__

    @functools.wraps(coro_fn)
    def method(self: Project, /, *args: P.args, **kwargs: P.kwargs) -> T:
        bound: Callable[P, Coroutine[Any, Any, T]] = getattr(self.aio, name)
        return self._thread.call(bound(*args, **kwargs))

    method.__qualname__, method.__module__ = f"Project.{name}", __name__  # whose method it is, for help()
    return method


class Project:
    """`polpo.Project(path=".")`: open (or create) the project in `path`."""

    def __init__(self, path: str | Path = ".", *, config: dict[str, Any] | None = None,
                 executor: Executor | Client | None = None, schedules: bool = True) -> None:
        """`executor`: an Executor, or a `distributed.Client` whose cluster runs the task bodies.
        `schedules=False`: this process never fires the project's scheduled missions."""
        self._thread = EngineThread()
        try:
            self.aio: AsyncProject = self._thread.call(AsyncProject.open(path, config=config, executor=executor,
                                                                         schedules=schedules))
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
    def keys(self) -> ApiKeys:
        """The project's API keys: `project.keys.create("ci")` (its `.key` is shown once), `.list()`, `.revoke("ci")`."""
        return self.aio.keys

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

    def rerun(self, mission: str | Mission | MissionRecord, *, from_task: str) -> RunHandle:
        """Run a settled mission (its name or id, or the Mission itself) again from one of its tasks:
        that task and everything downstream of it re-execute (see `rerun_mission`)."""
        return self.rerun_mission(mission if isinstance(mission, str) else mission.name, from_task=from_task)

    def abort(self, mission: str) -> MissionRecord:
        return self.abort_mission(mission)

    def release_runs(self) -> None:
        """Give up this process's runs at once (any thread, no engine round-trip): see AsyncProject."""
        self.aio.release_runs()

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

    def usage_df(self, by: str = "agent", *, mission: str | None = None) -> Any:
        """A DataFrame of what the project (or one mission) spent, one row per task, agent, model, mission
        or kind: tokens, requests, tool calls, USD, unpriced calls, wall time."""
        from ..notebook.views import usage_df

        return usage_df(self.usage(by, mission=mission))

    def close(self) -> None:
        """Stop the engine (running attempts are cancelled and will be re-run by a later resume) and its thread."""
        if not self._thread.loop.is_closed():
            self._thread.call(self.aio.close())
            self._thread.stop()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    list_agents = _blocking(AsyncProject.list_agents)
    add_agent = _blocking(AsyncProject.add_agent)
    remove_agent = _blocking(AsyncProject.remove_agent)
    get_team = _blocking(AsyncProject.get_team)
    rename_team = _blocking(AsyncProject.rename_team)
    processes = _blocking(AsyncProject.processes)
    list_tasks = _blocking(AsyncProject.list_tasks)
    get_task = _blocking(AsyncProject.get_task)
    create_task = _blocking(AsyncProject.create_task)
    update_task = _blocking(AsyncProject.update_task)
    delete_task = _blocking(AsyncProject.delete_task)
    execute_task = _blocking(AsyncProject.execute_task)
    retry_task = _blocking(AsyncProject.retry_task)
    kill_task = _blocking(AsyncProject.kill_task)
    reassess_task = _blocking(AsyncProject.reassess_task)
    approve_task = _blocking(AsyncProject.approve_task)
    reject_task = _blocking(AsyncProject.reject_task)
    attempts = _blocking(AsyncProject.attempts)
    list_missions = _blocking(AsyncProject.list_missions)
    resumable_missions = _blocking(AsyncProject.resumable_missions)
    get_mission = _blocking(AsyncProject.get_mission)
    save_mission = _blocking(AsyncProject.save_mission)
    update_mission = _blocking(AsyncProject.update_mission)
    delete_mission = _blocking(AsyncProject.delete_mission)
    add_mission_task = _blocking(AsyncProject.add_mission_task)
    update_mission_task = _blocking(AsyncProject.update_mission_task)
    remove_mission_task = _blocking(AsyncProject.remove_mission_task)
    execute_mission = _blocking(AsyncProject.execute_mission)
    resume_mission = _blocking(AsyncProject.resume_mission)
    rerun_mission = _blocking(AsyncProject.rerun_mission)
    abort_mission = _blocking(AsyncProject.abort_mission)
    interrupt_mission = _blocking(AsyncProject.interrupt_mission)
    schedule_history = _blocking(AsyncProject.schedule_history)
    mission_usage = _blocking(AsyncProject.mission_usage)
    usage = _blocking(AsyncProject.usage)
    get_memory = _blocking(AsyncProject.get_memory)
    put_memory = _blocking(AsyncProject.put_memory)
    append_memory = _blocking(AsyncProject.append_memory)
    state = _blocking(AsyncProject.state)
    log_sessions = _blocking(AsyncProject.log_sessions)
    list_files = _blocking(AsyncProject.list_files)
    preview_file = _blocking(AsyncProject.preview_file)
    file_path = _blocking(AsyncProject.file_path)
    chat_sessions = _blocking(AsyncProject.chat_sessions)
    chat_session = _blocking(AsyncProject.chat_session)
    chat_messages = _blocking(AsyncProject.chat_messages)
    rename_chat_session = _blocking(AsyncProject.rename_chat_session)
    delete_chat_session = _blocking(AsyncProject.delete_chat_session)
    log = _blocking(AsyncProject.log)
    chat = _blocking(AsyncProject.chat)
    in_use = _blocking(AsyncProject.in_use)
    state_version = _blocking(AsyncProject.state_version)
    committed_event_cursor = _blocking(AsyncProject.committed_event_cursor)
