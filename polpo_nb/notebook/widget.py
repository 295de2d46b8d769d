"""`MissionWidget`: the live DAG of a mission run, an anywidget with two synced traits.

- `graph`: the structure (nodes, positions, edges). Sent again only when tasks are added or removed.
- `state`: the run state (statuses, scores, retries, durations, progress, last events), one compact
  dict. Events arrive on the engine thread; they only mark what changed, and a flush re-reads that
  and syncs `state` at most once per `interval` (0.1 s: at most ten comm messages a second, however
  many events: a burst of 2,000 events costs a handful of messages).

Flushes run on the engine's event-loop thread, not the kernel's main thread. ipykernel 7 takes a comm
message's parent header from a context variable, so a message sent from another thread would be
attributed to whatever cell ran last (or to none). The widget copies the context of the cell that
created it and runs every flush inside a copy of it: the update is sent with that cell's parent header,
on ipykernel 7 as on 6 (where the parent is process-wide and this changes nothing).

Buttons in the front-end send custom messages (`approve`, `reject`, `resume`, `rerun`, `abort`, `select`); the
kernel handles them on its main thread and hands the work to the engine thread without waiting.
"""

from __future__ import annotations

import asyncio
import contextvars
import math
import pathlib
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import anywidget
import traitlets

from ..errors import NotFoundError, PolpoError
from ..events.model import Event
from ..project.loop import block_on, current_loop
from ..spec import MissionRecord, TaskRecord
from ..spec.status import MissionStatus, TaskStatus
from ..tracebacks import fold as fold_traceback
from .view import MissionView, Pending

HERE = pathlib.Path(__file__).parent
MIN_INTERVAL = 0.1
EVENT_SCAN = 2000  # how far back a new widget looks for its mission's recent events
DETAIL_CHARS = 4000
#: how often a widget of an active mission asks whether the process running it still lives: a `kill -9`
#: writes nothing, so no event would ever say it (the dashboard asks as often)
WATCH_SECONDS = 5.0
DAG_IMPORT = 'from "./dag.js";'  # how widget.js's one import line ends

Scheduler = Callable[[float, Callable[[], None]], None]


def widget_esm() -> str:
    """widget.js with the shared DAG renderer (dag.js, which the dashboard imports as a file) inlined:
    anywidget loads one module from a blob URL, where `import "./dag.js"` could not be resolved."""
    dag = (HERE / "dag.js").read_text()
    widget = (HERE / "widget.js").read_text()
    lines = widget.splitlines(keepends=True)
    kept = [line for line in lines if not (line.startswith("import ") and line.rstrip().endswith(DAG_IMPORT))]
    if len(kept) != len(lines) - 1:
        raise RuntimeError(f"widget.js must import the renderer on one line: `import {{...}} {DAG_IMPORT}`")
    return dag + "\n" + "".join(kept)


def settle_key(state: dict[str, Any]) -> tuple[str, bool]:
    """(mission status, settled): settled when it waits for a human or is over (no clock running)."""
    status, progress = state["mission"]["status"], state["progress"]
    waiting = not progress["running"] and progress["awaiting"] > 0
    return status, status not in ("active", "scheduled", "draft") or waiting


class _TaskRun:
    """A standalone task run drawn as a one-node mission."""

    def __init__(self, task: TaskRecord) -> None:
        self.id = None
        self.name = task.title
        self.tasks = [task]
        status = task.status
        self.status = (MissionStatus.COMPLETED if status == TaskStatus.DONE else MissionStatus.FAILED
                       if status == TaskStatus.FAILED else MissionStatus.PAUSED
                       if status == TaskStatus.AWAITING_APPROVAL else MissionStatus.ACTIVE)


class MissionWidget(anywidget.AnyWidget):
    """`MissionWidget(project, "mission name or id")`; what `run` and `%polpo run` display."""

    _esm = widget_esm()
    _css = HERE / "widget.css"
    graph = traitlets.Dict().tag(sync=True)
    state = traitlets.Dict().tag(sync=True)

    def __init__(self, project: Any, mission: str | MissionRecord | None = None, *, task: str | None = None,
                 interval: float = MIN_INTERVAL, clock: Callable[[], float] = time.monotonic,
                 schedule: Scheduler | None = None, watch_seconds: float = WATCH_SECONDS, **kwargs: Any) -> None:
        self._aio = getattr(project, "aio", project)
        self._loop: asyncio.AbstractEventLoop = self._aio._loop
        self.mission_id = mission.id if isinstance(mission, MissionRecord) else None
        self.task_id = task
        self._interval = interval
        self._clock = clock
        self._schedule = schedule or self._call_later
        self._context = contextvars.copy_context()  # the creating cell's parent header (module docstring)
        self._ready = False
        self._scheduled = False  # a flush is scheduled or under way
        self._refreshing = False  # it is under way (reading the store)
        self._again = False  # something changed while it was: flush again after it
        self._last_flush = -math.inf
        self._sent_rev = 0
        self._background: set[asyncio.Task[None]] = set()
        self._watch_seconds = watch_seconds
        self._watch: asyncio.TimerHandle | None = None  # the next look at the mission's process
        self._closed = False
        self._early: list[Event] | None = []  # events delivered while `_open` reads: observed once it has
        #: the last event committed when the process was last looked at: only a later one says it is alive
        self._looked_after = 0
        #: how many times the synced state was rebuilt (tests and benchmarks count them)
        self.flushes = 0
        #: called with (graph, state) after a flush where the run settled: paused, waiting for an
        #: approval, or over (display.py replaces the run's static picture then)
        self.on_settled: Callable[[dict[str, Any], dict[str, Any]], None] | None = None
        self._settle_key: tuple[Any, ...] | None = None
        ref = mission.id if isinstance(mission, MissionRecord) else mission
        if ref is None and task is None:
            raise ValueError("MissionWidget needs a mission (id, name or record) or a task id")
        graph, state = block_on(self._loop, self._open(ref))
        super().__init__(graph=graph, state=state, **kwargs)
        self._sent_rev = graph["rev"]
        self._settle_key = settle_key(state)  # on_settled fires on a change, not for how it opened
        self.on_msg(self._on_message)
        self._ready = True
        self._loop.call_soon_threadsafe(self._poke_if_pending, context=self._context.copy())
        self._loop.call_soon_threadsafe(self._arm_watch, context=self._context.copy())

    # -- engine side (everything below runs on the engine loop) -----------------------------------------

    async def _load(self) -> Any:
        if self.task_id is not None:
            return _TaskRun(await self._aio.get_task(self.task_id))
        return await self._aio.get_mission(self.mission_id or self._ref)

    async def _open(self, ref: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
        """Replay and subscribe in one step of the engine loop, which is where events are published, then
        read the records: the reads run on the project's reader while the engine goes on, so what it
        publishes meanwhile is kept and observed once the view exists (its tasks are read again). Nothing
        falls between the replay and the records, nothing is seen twice."""
        self._ref = ref
        recent = self._aio.replay(max(0, self._aio.event_cursor() - EVENT_SCAN))
        self._subscription = self._aio.subscribe(self._on_event)
        try:
            record = await self._load()
            self.mission_id = record.id
            self._view = MissionView(record, recent, project_dir=self._aio.root)
            await self._read_spend()
            await self._look_at_process()
        except BaseException:
            self._subscription.close()
            raise
        early, self._early = self._early or [], None
        for event in early:
            self._on_event(event)
        return self._view.graph(), self._view.state(time.time() * 1000)

    async def _read_spend(self) -> None:
        """A mission's spend so far, read with its records (a task run's is its result's)."""
        if self.task_id is None and self.mission_id is not None:
            self._view.apply_usage((await self._aio.mission_usage(self.mission_id)).total)

    def _on_event(self, event: Event) -> None:
        if current_loop() is not self._loop:  # the bus publishes on the engine loop; be safe if not
            self._loop.call_soon_threadsafe(self._on_event, event)
            return
        if self._early is not None:  # `_open` is reading: observed once it has read
            self._early.append(event)
            return
        if self._view.observe(event):
            if event.id > self._looked_after:  # a process wrote for it since the look: alive (the next look
                self._view.stopped = None      # says it again if not); what it wrote before may come later
            self._poke()

    def _poke_if_pending(self) -> None:
        if self._view.pending:
            self._poke()

    def _poke(self) -> None:
        """Ask for a flush: at once if the last message is `interval` old, else when it will be. While a
        flush is scheduled or under way, events only accumulate in `view.pending`; the flush asks again
        when it is done, so messages are always at least `interval` apart (measured send to send)."""
        if not self._ready:
            return
        if self._scheduled:
            self._again = self._again or self._refreshing  # a flush under way has already read the store
            return
        self._scheduled = True
        self._schedule(max(0.0, self._last_flush + self._interval - self._clock()), self._flush)

    def _active(self) -> bool:
        return self.task_id is None and getattr(self._view.mission, "status", None) == MissionStatus.ACTIVE

    async def _look_at_process(self) -> bool:
        """Whether the process running the (active) mission stopped, or came back, since the last look:
        asked as `resume` finds such a mission, among the resumable ones (not when this kernel runs it:
        its process lives as long as the widget)."""
        stopped = None
        if self._active() and self.mission_id is not None and not self._aio.runs(self.mission_id):
            self._looked_after = await self._aio.committed_event_cursor()
            found = next((m for m in await self._aio.resumable_missions()
                          if m.id == self.mission_id and m.status == MissionStatus.ACTIVE), None)
            if found is not None:
                stopped = (found.pause_reason or "interrupted", found.pause_message or "")
        changed, self._view.stopped = stopped != self._view.stopped, stopped
        return changed

    def _arm_watch(self) -> None:
        """While the mission is active, look at its process every `watch_seconds` (never once it is not)."""
        if self._watch is None and not self._closed and self._active():
            self._watch = self._loop.call_later(self._watch_seconds, self._on_watch, context=self._context.copy())

    def _on_watch(self) -> None:
        self._watch = None
        if self._closed:
            return
        task = self._loop.create_task(self._watch_once())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _watch_once(self) -> None:
        try:
            changed = await self._look_at_process()
        except PolpoError:  # the store could not answer this time (locked by another process): ask again later
            changed = False
        if changed:
            self._poke()  # its flush arms the next look
        else:
            self._arm_watch()

    def _call_later(self, delay: float, fn: Callable[[], None]) -> None:
        self._loop.call_later(delay, fn, context=self._context.copy())

    def _flush(self) -> None:
        task = self._loop.create_task(self._refresh())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _refresh(self) -> None:
        view = self._view
        self._refreshing = True
        pending, view.pending = view.pending, Pending()
        try:
            if pending.structure or pending.mission or len(pending.tasks) > max(8, len(view.tasks) // 2):
                view.apply_mission(await self._load())
                await self._read_spend()
            elif pending.tasks:
                view.apply_tasks([await self._aio.get_task(t) for t in pending.tasks])
                await self._read_spend()
        except NotFoundError:
            try:
                view.apply_mission(await self._load())
            except NotFoundError:
                view.notice = "This mission no longer exists."
        finally:
            try:
                self._sync()
            finally:
                self._last_flush = self._clock()  # once the message is out: the interval is send to send
                again, self._again, self._refreshing, self._scheduled = self._again, False, False, False
                if again:  # events arrived while this flush was reading the store
                    self._poke()

    def _sync(self) -> None:
        view = self._view
        with self.hold_sync():  # graph and state in one comm message
            if view.graph_rev != self._sent_rev:
                self.graph = view.graph()
                self._sent_rev = view.graph_rev
            self.state = view.state(time.time() * 1000)
        self.flushes += 1
        self._arm_watch()
        key = settle_key(self.state)
        if key != self._settle_key:
            self._settle_key = key
            if key[1] and self.on_settled is not None:
                self.on_settled(self.graph, self.state)

    def snapshot(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(graph, state) of the run as stored now, read on the engine thread (the synced traits may be
        up to one interval behind)."""
        return block_on(self._loop, self._snapshot())

    async def _snapshot(self) -> tuple[dict[str, Any], dict[str, Any]]:
        self._view.apply_mission(await self._load())
        return self._view.graph(), self._view.state(time.time() * 1000)

    def _set_notice(self, notice: str | None) -> None:
        self._view.notice = notice
        self._poke()

    # -- front-end messages (kernel main thread) ---------------------------------------------------------

    def _on_message(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        action, task_id = content.get("action"), content.get("taskId")
        try:
            if action == "select" and isinstance(task_id, str):
                self.send({"type": "detail", "taskId": task_id, "task": self.task_detail(task_id)})
            elif action == "approve" and isinstance(task_id, str):
                self.approve(task_id)
            elif action == "reject" and isinstance(task_id, str):
                self.reject(task_id)
            elif action == "resume":
                self.resume(retry_failed=bool(content.get("retryFailed")))
            elif action == "rerun" and isinstance(task_id, str):
                self.rerun(task_id)
            elif action == "abort":
                self.abort()
        except PolpoError as exc:
            self._loop.call_soon_threadsafe(self._set_notice, f"{action} failed: {exc}", context=self._context.copy())

    def approve(self, task_id: str) -> Future[Any]:
        return self._submit("approve", self._aio.approve_task(self._own(task_id)))

    def reject(self, task_id: str) -> Future[Any]:
        return self._submit("reject", self._aio.reject_task(self._own(task_id)))

    def resume(self, *, retry_failed: bool = False) -> Future[Any]:
        return self._submit("resume", self._aio.resume_mission(self.mission_id, retry_failed=retry_failed))

    def abort(self) -> Future[Any]:
        return self._submit("abort", self._aio.abort_mission(self.mission_id))

    def rerun(self, task_id: str) -> Future[Any]:
        """Run the mission again from one of its tasks (it and everything downstream of it)."""
        return self._submit("rerun", self._aio.rerun_mission(self.mission_id, from_task=self._own(task_id)))

    def _own(self, task_id: str) -> str:
        """Front-end messages may only act on this mission's tasks."""
        if task_id not in self._view.tasks:
            raise NotFoundError(f"Task {task_id} is not in this mission")
        return task_id

    def _submit(self, action: str, coro: Any) -> Future[Any]:
        """Run an action on the engine thread without blocking the kernel; its error shows in the widget."""
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)

        def done(f: Future[Any]) -> None:
            exc = f.exception()
            notice = None if exc is None else f"{action} failed: {exc}" if isinstance(exc, PolpoError) else f"{action} failed: {exc!r}"
            self._loop.call_soon_threadsafe(self._set_notice, notice, context=self._context.copy())

        future.add_done_callback(done)
        return future

    def task_detail(self, task_id: str) -> dict[str, Any]:
        """The selected task in full (result, feedback, criteria), trimmed for the side panel."""
        try:
            task: TaskRecord = block_on(self._loop, self._aio.get_task(self._own(task_id)))
            attempts = block_on(self._loop, self._aio.attempts(task_id))
        except PolpoError as exc:
            return {"error": str(exc)}
        data = task.to_wire(exclude={"expectations", "expected_outcomes", "retry_policy"})
        data["attempts"] = len(attempts)
        result = data.get("result") or {}
        if isinstance(result.get("error"), str):
            result["error"] = fold_traceback(result["error"])  # the user's frames first
        for key in ("content", "error"):
            if isinstance(result.get(key), str) and len(result[key]) > DETAIL_CHARS:
                result[key] = result[key][:DETAIL_CHARS] + f"… ({len(result[key]) - DETAIL_CHARS} more characters)"
        if isinstance(result.get("data"), dict | list):
            result.pop("data")  # arbitrary agent data: not for the panel
        return data

    def close(self) -> None:
        self._closed = True  # its next look, if one is armed, does nothing
        subscription = getattr(self, "_subscription", None)
        if subscription is not None:
            subscription.close()
        super().close()
