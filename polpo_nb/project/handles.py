"""Handles on executions: what `project.execute(...)` returns at once.

`await run` and `run.wait()` both return when the run settles: finished, paused at a checkpoint or
gate, or waiting for a human's approval. Waiting again after a resume or an approval waits for the
next settle.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from ..events.bus import Subscription
from ..events.model import Event
from ..spec import MissionRecord, MissionStatus, TaskRecord, TaskStatus
from .loop import block_on, on_loop

if TYPE_CHECKING:
    from ..engine.run import Run
    from ..usage.rollup import MissionUsage, UsageLine, UsageTotals

#: The events that can settle a run: its tasks' transitions and its mission's status.
_WATCHED = ("task:transition", "mission:*")
_MOVING = frozenset({TaskStatus.PENDING, TaskStatus.ASSIGNED, TaskStatus.IN_PROGRESS, TaskStatus.REVIEW})


def _settled(record: MissionRecord | TaskRecord) -> bool:
    if isinstance(record, TaskRecord):
        return record.status not in _MOVING
    if record.status != MissionStatus.ACTIVE:
        return True
    # active and settled only when waiting for a human: nothing moving, something awaiting approval
    statuses = {t.status for t in record.tasks}
    return not statuses & _MOVING and TaskStatus.AWAITING_APPROVAL in statuses


class _Engine(Protocol):
    async def wait_idle(self, key: str) -> Run | None: ...


class RunSource(Protocol):
    """What a handle uses of the project that made it (`AsyncProject`): its reads, its events, the
    loop its engine runs on, and the engine's wait for a run of this process."""

    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...

    @property
    def engine(self) -> _Engine: ...

    @property
    def closed(self) -> bool: ...

    async def get_mission(self, ref: str) -> MissionRecord: ...

    async def get_task(self, task_id: str) -> TaskRecord: ...

    async def usage(self, by: str = "agent", *, mission: str | None = None) -> list[UsageLine]: ...

    async def mission_usage(self, ref: str) -> MissionUsage: ...

    def subscribe(self, callback: Callable[[Event], None], pattern: str | Iterable[str] | None = None) -> Subscription: ...


class RunHandle:
    def __init__(self, project: RunSource, key: str, *, mission_id: str | None = None, task_id: str | None = None) -> None:
        self.project = project
        self.key = key
        self.mission_id = mission_id
        self.task_id = task_id
        #: the live widget, made by polpo_nb.notebook on first display
        self.widget: Any = None
        #: the display id of its notebook outputs (polpo_nb.notebook), to replace them when it settles
        self.display_id: str | None = None

    async def _settled(self) -> MissionRecord | TaskRecord:
        run = await self.project.engine.wait_idle(self.key)
        if run is None:
            return await self._follow()
        if run.abandoned:  # taken over by another process: it runs there now
            return await self._follow()
        if run.finished.is_set():  # a run of this process that is over: its last commits are the record
            return run.final_record()
        return await self._record()  # paused or waiting for a human: as stored

    async def _follow(self) -> MissionRecord | TaskRecord:
        """A run of another process (or one already over): read the record again only when an event of
        this run arrives (the project's tail delivers other processes' commits as events), never on a
        timer. The subscription is made before the first read, so no change falls between the two."""
        loop = asyncio.get_running_loop()
        changed = asyncio.Event()

        def on_event(event: Event) -> None:  # on the publishing thread
            if (self.mission_id and event.data.get("missionId") == self.mission_id) or \
                    (self.task_id and event.data.get("taskId") == self.task_id):
                loop.call_soon_threadsafe(changed.set)

        with self.project.subscribe(on_event, _WATCHED):
            while True:
                changed.clear()
                record = await self._record()
                if _settled(record):
                    return record
                await changed.wait()

    async def _record(self) -> MissionRecord | TaskRecord:
        if self.mission_id:
            return await self.project.get_mission(self.mission_id)
        assert self.task_id is not None
        return await self.project.get_task(self.task_id)

    async def wait_async(self) -> MissionRecord | TaskRecord:
        record = await on_loop(self.project.loop, self._settled())
        self._refresh_display()
        return record

    def __await__(self) -> Any:
        return self.wait_async().__await__()

    def wait(self, timeout: float | None = None) -> MissionRecord | TaskRecord:
        """Block until the run settles (from a script, a test, or a notebook cell). After `timeout`
        seconds (None or infinity: no limit), TimeoutError saying what still runs; the run goes on."""
        if timeout is not None and math.isnan(timeout):
            raise ValueError("wait(timeout=nan): give the timeout in seconds, or None to wait until it settles")
        try:
            record = block_on(self.project.loop, self._settled(), None if timeout == math.inf else timeout)
        except TimeoutError:
            now = self.record()
            if _settled(now):  # it settled as the time ran out
                return now
            what = "mission" if self.mission_id else "task"
            title = now.name if isinstance(now, MissionRecord) else now.title
            raise TimeoutError(f"{what} {title!r} is still {now.status.value} after {timeout:g} s; it keeps running "
                               f"(wait again, or abort it)") from None
        self._refresh_display()
        return record

    def _refresh_display(self) -> None:
        """A run displayed in this notebook shows how it settled, not how it started (polpo_nb.notebook)."""
        if self.display_id is not None:
            from ..notebook.display import refresh_run_display

            refresh_run_display(self)

    def record(self) -> MissionRecord | TaskRecord:
        """The mission (or task) as stored now."""
        return block_on(self.project.loop, self._record())

    @property
    def status(self) -> str:
        return self.record().status.value

    def __repr__(self) -> str:
        what = f"mission={self.mission_id}" if self.mission_id else f"task={self.task_id}"
        return f"<RunHandle {what}>"

    def _ipython_display_(self) -> None:
        from ..notebook.display import display_run

        display_run(self)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
        from ..notebook.display import run_mimebundle

        return run_mimebundle(self, include, exclude)

    def _repr_html_(self) -> str | None:
        """The static DAG alone (what `_repr_mimebundle_` offers as text/html), for renderers that ask for HTML."""
        from ..notebook.display import run_html

        return run_html(self)

    def results_df(self) -> Any:
        """A pandas DataFrame, one row per task: agent, model, status, score, retries, duration, output."""
        from ..notebook.views import results_df

        return results_df(self.record())

    def spent(self) -> UsageTotals | None:
        """What this run's mission has spent so far, in total (None for a task's run: see its result)."""
        if self.mission_id is None:
            return None
        return block_on(self.project.loop, self.project.mission_usage(self.mission_id)).total

    def usage_df(self, by: str = "task") -> Any:
        """What this run's mission spent, one row per task (the judge's and chat's apart), agent or model."""
        from ..notebook.views import usage_df

        if self.mission_id is None:
            raise ValueError("usage_df is a mission run's; a task's spend is in its attempts' results")
        return usage_df(block_on(self.project.loop, self.project.usage(by, mission=self.mission_id)))
