"""`AsyncProject`: the public API of a project, the one the HTTP layer and the notebook both call.

Every public coroutine runs on the project's loop (see `loop.engine_call`), so it may be awaited from
any loop or thread. Inputs are pydantic models or their JSON; invalid input raises SpecError before
anything is written; unknown ids raise NotFoundError; illegal states raise ConflictError.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..agents.function import FunctionAgent
from ..agents.models import ModelRegistry
from ..assess import FunctionJudge, Judge
from ..chat.sessions import Sessions
from ..collector import collector_paused, paused
from ..engine.commands import CommandRouter
from ..engine.engine import Engine, EngineDeps
from ..engine.interrupt import release_leases
from ..engine.ownership import new_owner_id, owner_alive, release_owner
from ..engine.schedules import Scheduler
from ..errors import ForeignRunError, NotFoundError, StoreError
from ..events.bus import EventBus, Subscription
from ..events.catalog import (
    TeamRenamed,
)
from ..events.model import Event
from ..executors import Executor, as_executor
from ..missionfile import run_target
from ..spec import (
    Agent,
    Mission,
    MissionRecord,
    MissionStatus,
    ProjectConfig,
    Task,
    TaskRecord,
    TaskStatus,
    Team,
    parse,
)
from ..spec.state import Attempt, Process, ProjectInfo, ProjectState, ScheduleOccurrence
from ..spec.status import status_filter
from ..store.changes import watch_database
from ..store.journal import Emit, Journal
from ..store.reader import Reader
from ..store.rows import AttemptRow
from ..store.sqlite import Store, Tx
from ..usage.rollup import MissionUsage, UsageLine
from .agents import AgentRegistry
from .background import OtherProcesses, housekeeping
from .chatface import ProjectChat
from .chatport import ChatBackend
from .config import POLPO_DIR, ConfigFile
from .handles import RunHandle
from .judging import Judging
from .keys import ApiKeys
from .loop import engine_call
from .memory import MemoryFile
from .missions import MissionEditor, as_data
from .snapshot import read_processes, read_state, read_team
from .usage import mission_usage, usage_lines
from .workspace import ProjectWorkspace

log = logging.getLogger(__name__)
T = TypeVar("T")

if TYPE_CHECKING:
    from distributed import Client


CLOSE_GRACE = 5.0  # seconds background tasks get to finish their cleanup on close


class AsyncProject(ProjectChat, ProjectWorkspace):
    """Open with `await AsyncProject.open(path)` on the loop that will run its engine."""

    def __init__(self, path: str | Path = ".", *, config: dict[str, Any] | None = None,
                 executor: Executor | Client | None = None, config_defaults: dict[str, Any] | None = None,
                 schedules: bool = True) -> None:
        """`config` wins over the project's config file, `config_defaults` (a server's settings) only
        fills in what the file leaves unset, now and after the file is edited. `schedules=False`: this
        process never fires the project's scheduled missions (a command that only looks, or runs one
        mission and exits, must not start one it would abandon on exit)."""
        self.fires_schedules = schedules
        self.root = Path(path).resolve()
        if not self.root.is_dir():
            raise NotFoundError(f"project directory does not exist: {self.root}")
        self._config = ConfigFile(self.root, config, config_defaults)  # re-read when the file changes: see `config`
        self.id = self.config.project or self.root.name
        self.polpo_dir = self.root / POLPO_DIR
        (self.polpo_dir / "output").mkdir(parents=True, exist_ok=True)
        self.store = Store(self.polpo_dir / "state.db", synchronous=self.config.synchronous)
        #: The public reads: a connection and a thread of their own, so a long read never holds a run.
        self.reads = Reader(self.store.path, busy_timeout=self.store.busy_timeout)
        self.bus = EventBus(self.store)
        self.memory_file = MemoryFile(self.polpo_dir / "memory.md")
        self.owner = new_owner_id()
        #: Model strings to pydantic-ai models; `models.register(name, model)` plays a name with any model.
        self.models = ModelRegistry(self.config.providers)
        self._chat: ChatBackend | None = None  # built on first use (it imports pydantic-ai)
        #: `executor: dask` in the config, or a distributed.Client passed in -> DaskExecutor
        self._executor = as_executor(executor, self.config)
        #: Who plays each agent name: the engine, the API and the chat resolve agents here.
        self.agents = AgentRegistry(self.store, self.root, self._config.current, self.models,
                                    remote=bool(getattr(self._executor, "remote", False)))
        #: Who scores criteria: `@project.judge`, else an LLM judge (`judgeModel`, ...).
        self.judging = Judging(self._config.current, self.models, self.agents)
        self._loop: asyncio.AbstractEventLoop
        self._background: set[asyncio.Task[None]] = set()
        self.engine: Engine
        self.missions: MissionEditor
        self._sessions: Sessions  # chat sessions, kept in the store
        self.journal: Journal
        self.closed = False

    @property
    def config(self) -> ProjectConfig:
        """The project's config as its file says now: an edit of `.polpo/config.json` applies at the next
        use, in a running server or kernel too (`ConfigFile`: two stats per look, one shared object)."""
        return self._config.current()

    @functools.cached_property
    def keys(self) -> ApiKeys:
        """The project's API keys (create, list, revoke), as `polpo keys` and the HTTP API manage them."""
        return ApiKeys(self.root)

    @classmethod
    async def open(cls, path: str | Path = ".", **kwargs: Any) -> AsyncProject:
        project = cls(path, **kwargs)
        await project._start()
        return project

    async def _start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.journal = Journal(self.store, self.bus, self._loop)
        # The engine's writes wait out another process's lock (a run must not lose its progress to it);
        # the project's own requests fail past the busy timeout, for the user to try again.
        self._engine_journal = Journal(self.store, self.bus, self._loop, patient=True)
        self.engine = Engine(EngineDeps(
            store=self.store, journal=self._engine_journal, project_dir=self.root, config=self.config, owner=self.owner,
            executor=self._executor, resolve_agent=self.agents.resolve, judge=self.judging.judge_for,
            check_judge=self.judging.check, memory=self.memory_file.read,
        ))
        await self.engine.start()
        self._sessions = Sessions(self.store, self.journal)
        self.scheduler = Scheduler(self.store, self.journal, self.owner, self.engine.execute_mission,
                                   self.engine.unplayable)
        self.missions = MissionEditor(self.store, self.journal, self.engine, self.agents)
        self.commands = CommandRouter(self.store, self.journal, self.owner, self.engine, more={
            "update_task": lambda c: self.missions.update_task(c.task_id or "", c.payload["patch"]),
            "delete_task": lambda c: self.missions.delete_task(c.task_id or ""),
            "add_mission_task": lambda c: self.missions.add_mission_task(c.mission_id or "", c.payload["task"]),
        })
        self._others = OtherProcesses(self.store, self.bus, self.commands, watch_database(
            self.store.path, detection=self.config.change_detection, poll_interval=self.config.poll_interval))
        # the schedules may have changed: a mission saved, edited, run or fired here or in another process
        self._schedule_watch = self.bus.subscribe(lambda _event: self.scheduler.wake(), ("mission:*", "schedule:*"),
                                                 counted=False)
        background = [self._others.follow(), housekeeping(self.store, self.journal, lambda: self.config.event_retention)]
        if self.fires_schedules:
            background.append(self.scheduler.run())
        for coro in background:
            task = asyncio.create_task(coro)
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop the project's engine runs on: every public coroutine runs there (`loop.engine_call`)."""
        return self._loop

    @property
    def change_watch_mode(self) -> str:
        """How this project learns of other processes' commits: `inotify`, `watchfiles` or `poll`."""
        return self._others.changes.mode

    @property
    def tail_looks(self) -> int:
        """How many times this process looked for other processes' commits (tests count idle wake-ups)."""
        return self._others.looks

    def runs(self, mission_id: str) -> bool:
        """Whether this process runs the mission now (its engine holds the run)."""
        return self.engine.is_running(mission_id)

    @engine_call
    async def in_use(self) -> bool:
        """Whether closing the project now would stop something: a run this process owns, a client
        listening to its events, or a schedule to fire. A server closes projects for which it is not."""
        if self.engine.has_runs() or self.bus.subscriber_count:
            return True
        with self.store.read() as tx:
            return any(m.schedule and m.next_run_at for m in tx.missions(with_tasks=False))

    @engine_call
    async def close(self) -> None:
        """Stop the engine (running attempts are cancelled and will be re-run by a later resume)."""
        if self.closed:
            return
        self.closed = True
        self._schedule_watch.close()
        background = list(self._background)
        for task in background:
            task.cancel()
        if background:  # let them run their cleanup (a chat turn tells its readers it ended) before the store closes
            await asyncio.wait(background, timeout=CLOSE_GRACE)
        self._engine_journal.patient = False  # a close never waits for ever: past the busy timeout, it goes
        await self.engine.close()
        await self._prune_steps()
        self._executor.close()
        release_owner(self.owner)
        self.reads.close()
        self.store.close()
        if "keys" in self.__dict__:  # its connection, if `keys` was ever used
            self.keys.close()

    async def _prune_steps(self) -> None:
        """At close, the steps of the attempts that ended (housekeeping's first round comes after minutes:
        a `polpo run` or a short script never reached it, and each LLM attempt left its conversation).
        Those of attempts the close interrupted stay, for a resume. A store another process keeps busy
        only delays this to the next housekeeping, said in the log."""
        try:
            await self.journal.write(lambda tx, emit: tx.prune_finished_steps())
        except StoreError as exc:
            log.warning("polpo: %s: the steps of ended attempts stay until the next housekeeping: %s", self.root,
                        exc.message)

    # == agents ========================================================================================

    def agent(self, name: str, *, role: str = "", model: str | None = None, **spec: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: the function plays agent `name`: `(task, ctx) -> str | dict | TaskResult`."""
        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            self.register_agent(name, fn, role=role, model=model, **spec)
            return fn
        return register

    @property
    def function_agents(self) -> Mapping[str, FunctionAgent]:
        """The agents played by Python callables in this process (`@project.agent`), by name (read-only)."""
        return self.agents.functions

    def register_agent(self, name: str, fn: Callable[..., Any], *, role: str = "", model: str | None = None,
                       **spec: Any) -> Agent:
        return self.agents.register(name, fn, role=role, model=model, **spec)

    def judge(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Decorator: `(expectation, task, result) -> score | (score, feedback) | dict` scores every
        criterion expectation, with no model involved."""
        self.judging.registered = FunctionJudge(fn)
        return fn

    def set_judge(self, judge: Judge | None) -> None:
        self.judging.registered = judge

    @engine_call
    async def list_agents(self) -> list[Agent]:
        return self.agents.list()

    @engine_call
    async def add_agent(self, agent: Agent | dict[str, Any]) -> Agent:
        checked = self.agents.checked(agent)
        return await self.journal.write(lambda tx, emit: self.agents.add(tx, emit, checked))

    @engine_call
    async def remove_agent(self, name: str) -> None:
        await self.journal.write(lambda tx, emit: self.agents.remove(tx, emit, name))
        self.agents.forget_function(name)

    @engine_call
    async def get_team(self) -> Team:
        return await self.reads(read_team)

    @engine_call
    async def rename_team(self, name: str) -> Team:
        team = parse(Team, {"name": name})
        def write(tx: Tx, emit: Emit) -> None:
            tx.put_kv("team.name", team.name)
            emit(TeamRenamed(name=team.name))
        await self.journal.write(write)
        return await self.get_team()

    @engine_call
    async def processes(self) -> list[Process]:
        return await self.reads(read_processes)

    # == tasks =========================================================================================

    @engine_call
    async def list_tasks(self, *, status: str | None = None, group: str | None = None,
                         assign_to: str | None = None, mission_id: str | None = None) -> list[TaskRecord]:
        status_filter(TaskStatus, status)
        return await self.reads(lambda tx: tx.tasks(status=status, group=group, assign_to=assign_to,
                                                    mission_id=mission_id))

    @engine_call
    async def get_task(self, task_id: str) -> TaskRecord:
        return await self.reads(lambda tx: tx.task(task_id))

    @engine_call
    async def create_task(self, task: Task | dict[str, Any]) -> TaskRecord:
        """A standalone task (status draft); run it with `execute_task`."""
        return await self.missions.create_task(task)

    @engine_call
    async def update_task(self, task_id: str, patch: dict[str, Any]) -> TaskRecord:
        """Change definition fields (priority, expectations, ...) of a task that is not running. Of a
        mission another live process runs, the edit is made there (its run goes on with it)."""
        updated = await self._routed("update_task", lambda: self.missions.update_task(task_id, patch), task_id=task_id,
                                     patch=patch)
        return updated if updated is not None else await self.get_task(task_id)

    @engine_call
    async def delete_task(self, task_id: str) -> None:
        await self._routed("delete_task", lambda: self.missions.delete_task(task_id), task_id=task_id)

    @engine_call
    async def execute_task(self, task_id: str) -> RunHandle:
        run = await self.engine.execute_task(task_id)
        return RunHandle(self, run.key, task_id=task_id)

    @engine_call
    async def retry_task(self, task_id: str) -> TaskRecord:
        await self._routed("retry", lambda: self.engine.retry(task_id), task_id=task_id)
        return await self.get_task(task_id)

    @engine_call
    async def kill_task(self, task_id: str) -> TaskRecord:
        await self._routed("kill", lambda: self.engine.kill(task_id), task_id=task_id)
        return await self.get_task(task_id)

    @engine_call
    async def reassess_task(self, task_id: str) -> TaskRecord:
        return await self.engine.reassess(task_id)

    @engine_call
    async def approve_task(self, task_id: str, note: str | None = None) -> TaskRecord:
        await self._routed("approve", lambda: self.engine.decide(task_id, True, note), task_id=task_id, note=note)
        return await self.get_task(task_id)

    @engine_call
    async def reject_task(self, task_id: str, note: str | None = None) -> TaskRecord:
        await self._routed("reject", lambda: self.engine.decide(task_id, False, note), task_id=task_id, note=note)
        return await self.get_task(task_id)

    async def _routed(self, kind: str, local: Callable[[], Awaitable[T]], *, mission_id: str | None = None,
                      task_id: str | None = None, **payload: Any) -> T | None:
        """Run a command here (its result), or, when another live process owns the run, there (through the
        store: None here, the caller reads what it stored)."""
        try:
            return await local()
        except ForeignRunError as exc:
            await self.commands.send(exc.owner, kind, mission_id=mission_id, task_id=task_id, payload=payload)
            return None

    @engine_call
    async def attempts(self, task_id: str) -> list[Attempt]:
        """Every call of the task's agent so far, first to last."""
        def read(tx: Tx) -> list[AttemptRow]:
            tx.task(task_id)
            return tx.attempts(task_id)
        rows = await self.reads(read)
        return [Attempt.model_validate(row, from_attributes=True) for row in rows]

    # == missions ======================================================================================

    @engine_call
    async def list_missions(self, *, status: str | None = None) -> list[MissionRecord]:
        status_filter(MissionStatus, status)
        return await self.reads(lambda tx: tx.missions(status=status))

    @engine_call
    async def resumable_missions(self) -> list[MissionRecord]:
        """Paused missions, active ones whose engine died, and those this engine stopped because the
        store refused their writes (resume takes them over)."""
        halted = self.engine.halted()

        def read(tx: Tx) -> list[MissionRecord]:
            out = []
            for mission in tx.missions(with_tasks=False):
                if mission.status == MissionStatus.PAUSED:
                    out.append(mission)
                elif mission.id in halted:
                    out.append(mission.model_copy(update={"pause_reason": "store unwritable",
                                                          "pause_message": halted[mission.id]}))
                elif mission.status == MissionStatus.ACTIVE:
                    row = tx.run(mission.id)
                    if row is None or (row.owner != self.owner and not owner_alive(row.owner, row.lease_until)):
                        out.append(mission.model_copy(update={"pause_reason": "interrupted",
                                                              "pause_message": "The process running it stopped"}))
            return out
        return await self.reads(read)

    @engine_call
    async def get_mission(self, ref: str) -> MissionRecord:
        return await self.reads(lambda tx: tx.mission(ref))

    async def _mission_id(self, ref: str) -> str:
        """A mission's id from its id or name (NotFoundError otherwise), its tasks not read."""
        return await self.reads(lambda tx: tx.mission(ref, with_tasks=False).id)

    @engine_call
    async def save_mission(self, mission: Mission | dict[str, Any], *, replace: bool = False) -> MissionRecord:
        """Create a mission (status draft) with its tasks. Names are unique in a project: with `replace`,
        a saved mission of that name that does not run gets this definition instead."""
        with collector_paused():  # its records are built in bulk
            return await self.missions.save_mission(mission, replace=replace)

    @engine_call
    async def update_mission(self, ref: str, patch: dict[str, Any]) -> MissionRecord:
        """Change a mission's definition. `tasks` (if given) replaces the task list, matched by title:
        tasks keep their ids and history, new titles are created, missing ones removed."""
        return await self.missions.update_mission(ref, patch)

    @engine_call
    async def delete_mission(self, ref: str) -> None:
        await self.missions.delete_mission(ref)

    @engine_call
    async def add_mission_task(self, ref: str, task: Task | dict[str, Any]) -> TaskRecord:
        """Add a task; if the mission is running it is scheduled at once (seed 004), by the process that
        runs it."""
        mission, data = self.missions.named_or_id(ref), as_data(task)
        added = await self._routed("add_mission_task", lambda: self.missions.add_mission_task(mission.id, data),
                                   mission_id=mission.id, task=data)
        return added if added is not None else self.missions.task_titled(
            mission.id, data.get("title") if isinstance(data, dict) else None)

    @engine_call
    async def update_mission_task(self, ref: str, task_id: str, patch: dict[str, Any]) -> TaskRecord:
        self.missions.mission_task(ref, task_id)
        return await self.update_task(task_id, patch)

    @engine_call
    async def remove_mission_task(self, ref: str, task_id: str) -> None:
        self.missions.mission_task(ref, task_id)
        await self.delete_task(task_id)

    @engine_call
    async def execute_mission(self, mission: str | Mission | dict[str, Any]) -> RunHandle:
        """Run a saved mission (by id or name), or save-and-run a Mission: a mission of the same name
        that is not running gets the new definition first, so re-running a notebook cell just works."""
        self._config.current()  # the run starts on the config as its file says now (maxConcurrency, ...)
        if isinstance(mission, str):
            with self.store.read() as tx:  # a saved mission, else a mission file (NotFoundError naming both)
                mission = run_target(mission, lambda ref: tx.mission(ref, with_tasks=False))
        with collector_paused():  # its records are built (parsed, saved, read back) in bulk
            if isinstance(mission, str):
                ref, saved, create = mission, None, None
            else:
                ref, saved, create = await self.missions.to_execute(mission)
            run = await self.engine.execute_mission(ref, saved, create)
        return RunHandle(self, run.key, mission_id=run.key)

    @engine_call
    async def resume_mission(self, ref: str, *, retry_failed: bool = False) -> RunHandle:
        mission_id = await self._mission_id(ref)
        # its records are read back in bulk here (not while another process that owns it is waited for)
        await self._routed("resume", lambda: paused(self.engine.resume(mission_id, retry_failed=retry_failed)),
                           mission_id=mission_id, retryFailed=retry_failed)
        return RunHandle(self, mission_id, mission_id=mission_id)

    @engine_call
    async def rerun_mission(self, ref: str, *, from_task: str) -> RunHandle:
        """Run a finished, failed, cancelled or paused mission again from one of its tasks (title or id):
        that task and everything downstream of it re-execute, the results upstream are reused, and every
        earlier attempt stays in `attempts`. Refused while the mission runs."""
        mission_id = await self._mission_id(ref)
        await self._routed("rerun", lambda: paused(self.engine.rerun(mission_id, from_task)), mission_id=mission_id,
                           fromTask=from_task)  # read back in bulk (here, as resume's)
        return RunHandle(self, mission_id, mission_id=mission_id)

    @engine_call
    async def abort_mission(self, ref: str) -> MissionRecord:
        mission_id = await self._mission_id(ref)
        await self._routed("abort", lambda: self.engine.abort(mission_id), mission_id=mission_id)
        return await self.get_mission(mission_id)

    @engine_call
    async def interrupt_mission(self, ref: str) -> MissionRecord:
        """Stop a run of this process because the process is stopping (Ctrl-C, SIGTERM): its attempts are
        cancelled and their tasks go back to pending, the mission pauses (`pauseReason: "interrupted"`)
        and no process owns it any more, so `resume` continues it here or anywhere else."""
        mission_id = await self._mission_id(ref)
        await self.engine.interrupt(mission_id)
        return await self.get_mission(mission_id)

    def release_runs(self) -> None:
        """Give up this process's runs at once, from any thread, even while the engine is busy: their
        leases expire so another process may resume them now (call it just before exiting)."""
        release_leases(self.store.path, self.owner)

    @engine_call
    async def schedule_history(self, ref: str) -> list[ScheduleOccurrence]:
        """What happened to each occurrence of a mission's schedule: fired, missed or skipped."""
        rows = await self.reads(lambda tx: tx.schedule_history(tx.mission(ref, with_tasks=False).id))
        return [ScheduleOccurrence.model_validate(row, from_attributes=True) for row in rows]

    @engine_call
    async def mission_usage(self, ref: str) -> MissionUsage:
        """What a mission spent (tokens, requests, tool calls, USD, wall time) in total and by task, agent
        and model (the judge's under `judge`), and its budget against its current execution's spend."""
        return await self.reads(lambda tx: mission_usage(tx, ref))

    @engine_call
    async def usage(self, by: str = "agent", *, mission: str | None = None) -> list[UsageLine]:
        """The project's spend (or one mission's) by `task`, `agent`, `model`, `mission` or `kind`
        (attempt, judge, chat); calls that could not be priced are counted apart, never as free."""
        return await self.reads(lambda tx: usage_lines(tx, by, mission))

    # == state =========================================================================================

    @engine_call
    async def state(self) -> ProjectState:
        """Tasks, missions, team and running attempts as of one moment (one read transaction)."""
        info = self.info()
        return await self.reads(lambda tx: read_state(tx, info))

    def info(self) -> ProjectInfo:
        return ProjectInfo(id=self.id, name=self.root.name, path=str(self.root))

    # == events ========================================================================================

    def subscribe(self, callback: Callable[[Event], None], pattern: str | Iterable[str] | None = None) -> Subscription:
        """`callback(event)` for every matching event, on the engine's thread (hand off to your own)."""
        return self.bus.subscribe(callback, pattern)

    def event_cursor(self) -> int:
        """The id of the latest event delivered: a stream that starts after it sees every later event
        and none before (what "from now" means to SSE, the WebSocket and the widget)."""
        return self.bus.cursor

    @engine_call
    async def committed_event_cursor(self) -> int:
        """The id of the latest event any process committed: `event_cursor` reaches it once this process
        has delivered what the others wrote (its follower does when it wakes)."""
        return await self.reads(lambda tx: tx.last_event_id())

    def replay(self, after: int = 0, pattern: str | Iterable[str] | None = None) -> list[Event]:
        return self.bus.replay(after, pattern)

    def events(self, pattern: str | Iterable[str] | None = None, *, after: int | None = None) -> AsyncIterator[Event]:
        """Replay after `after`, then live events, on the caller's loop: the feed of SSE and WebSocket."""
        return self.bus.stream(pattern, after=after)

    @engine_call
    async def state_version(self) -> str:
        """A token that changes whenever the stored state may have changed, by a commit of this process
        or of another one (`Store.change_token`): two reads under the same token give the same answer,
        so the HTTP layer can reuse what it rendered and answer `If-None-Match`. The owner id keeps
        tokens of successive openings apart."""
        return f"{self.owner}:{self.store.change_token()}"
