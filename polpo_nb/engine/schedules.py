"""Cron and one-shot schedules: which occurrence is due, and firing it exactly once across processes.

Every engine of a project sleeps until its next due occurrence (or until a mission or schedule event
says the schedules changed), then looks; the first to commit the compare-and-set of a mission's `nextRunAt`
(inside one `BEGIN IMMEDIATE` transaction) owns the occurrence, and records it in `schedule_fires`
(primary key: mission + occurrence), so two engines on one store never fire the same occurrence.
Occurrences missed while no engine ran are reported (`schedule:missed`), not replayed in a burst: only
an occurrence less than `GRACE_SECONDS` late still fires.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from croniter import croniter

from ..errors import PolpoError
from ..events.catalog import CatalogEvent, ScheduleFailed, ScheduleMissed, ScheduleTriggered
from ..spec import Mission, MissionRecord, MissionStatus
from ..spec.status import LIVE_MISSION_STATES
from ..store.journal import Emit, Journal
from ..store.sqlite import Store, Tx

log = logging.getLogger(__name__)

#: Longest sleep between looks when nothing wakes the scheduler: the safety net for a schedule no event
#: told us about (a store edited by hand) and for a wall clock that jumped.
MAX_SLEEP_SECONDS = 60.0
#: Wake this much after an occurrence is due, so the look never lands a hair before it.
LATE_BY_SECONDS = 0.01
#: Next look at an occurrence that stayed due after a look (claimed elsewhere, not yet recorded).
RETRY_SECONDS = 1.0
GRACE_SECONDS = 60.0
#: An engine that cannot play a mission's agents (a function registered in another process) leaves its due
#: occurrence to the project's other engines this long; then it claims it, and fails it saying why.
DEFER_SECONDS = GRACE_SECONDS - 5.0
MAX_LISTED_MISSES = 100


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def iso(value: datetime) -> str:
    """UTC, to the second, `Z`-suffixed; the year always has four digits (strftime's `%Y` writes year 1 as
    `1`, which no ISO reader parses)."""
    return _aware(value).astimezone(UTC).replace(tzinfo=None, microsecond=0).isoformat() + "Z"


#: A year of fewer than four digits, as `iso` wrote years before 1000 until it padded them.
_SHORT_YEAR = re.compile(r"^(\d{1,3})-")


def parse_iso(value: str) -> datetime:
    value = _SHORT_YEAR.sub(lambda m: m.group(1).zfill(4) + "-", value)
    return _aware(datetime.fromisoformat(value.replace("Z", "+00:00")))


def is_recurring(schedule: str) -> bool:
    return croniter.is_valid(schedule)


def on_time(occurrence: datetime, now: datetime) -> bool:
    """Still early enough to fire (`GRACE_SECONDS`); later, the occurrence is reported missed."""
    return (now - occurrence).total_seconds() <= GRACE_SECONDS


def next_run(mission: Mission, after: datetime) -> datetime | None:
    """The first occurrence strictly after `after`, within `endDate`; None when the schedule is over."""
    if not mission.schedule:
        return None
    if is_recurring(mission.schedule):
        nxt = _aware(croniter(mission.schedule, _aware(after)).get_next(datetime))
        return None if mission.end_date and nxt > _aware(mission.end_date) else nxt
    once = parse_iso(mission.schedule)
    return once if once > _aware(after) else None


def first_run(mission: Mission, now: datetime) -> str | None:
    """`nextRunAt` of a newly saved schedule. A one-shot time already past still counts (it is reported
    as missed, or fires if within the grace period) rather than vanishing."""
    if not mission.schedule:
        return None
    if is_recurring(mission.schedule):
        nxt = next_run(mission, now)
        return iso(nxt) if nxt else None
    return iso(parse_iso(mission.schedule))


@dataclass
class Decision:
    fire: str | None = None
    missed: list[str] = field(default_factory=list)
    skipped: str | None = None
    next_run_at: str | None = None  # after this look


class Execute(Protocol):
    """The engine's `execute_mission`: `announce(executionCount)` is an event its run's first commit
    emits (before `mission:executed`), so a firing is told only once its run has started."""

    def __call__(self, mission_id: str, *, announce: Callable[[int], CatalogEvent] | None = None
                 ) -> Awaitable[Any]: ...


def due_occurrences(mission: MissionRecord, now: datetime) -> list[datetime]:
    """Every occurrence from `nextRunAt` up to `now` (bounded), oldest first."""
    assert mission.next_run_at is not None
    first = parse_iso(mission.next_run_at)
    if first > now:
        return []
    due = [first]
    if mission.schedule and is_recurring(mission.schedule):
        while len(due) < 10_000:
            nxt = next_run(mission, due[-1])
            if nxt is None or nxt > now:
                break
            due.append(nxt)
    return due


class Scheduler:
    """Fires due schedules. Idle costs nothing: no tick, one timer for the next due occurrence."""

    def __init__(self, store: Store, journal: Journal, owner: str, execute: Execute,
                 unplayable: Callable[[str], str | None]) -> None:
        self.store = store
        self.journal = journal
        self.owner = owner
        self.execute = execute
        self.unplayable = unplayable  # why this engine could not start a mission, or None
        self.looks = 0  # how many times it looked at the schedules (tests count wake-ups with it)
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def wake(self) -> None:
        """The schedules may have changed: look again now. Safe from any thread."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            try:
                await self.tick_once()
                sleep = self.seconds_to_next()
            except Exception:  # noqa: BLE001 - a bad look must not stop future ones
                log.exception("schedule look failed")
                sleep = RETRY_SECONDS
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(sleep):
                    await self._wake.wait()

    def _next_runs(self, tx: Tx) -> list[tuple[MissionRecord, datetime]]:
        """Each scheduled mission with its `nextRunAt`; one that cannot be read is logged and left out, so
        it stops only itself, never the other schedules."""
        out = []
        for mission in tx.scheduled_missions():
            if not (mission.schedule and mission.next_run_at):
                continue
            try:
                out.append((mission, parse_iso(mission.next_run_at)))
            except ValueError:
                log.error("mission %s: nextRunAt %r is not a time; its schedule is skipped", mission.id,
                          mission.next_run_at)
        return out

    def seconds_to_next(self, now: datetime | None = None) -> float:
        """Until the earliest `nextRunAt` of any schedule (at most MAX_SLEEP_SECONDS)."""
        now = now or datetime.now(UTC)
        with self.store.read() as tx:
            upcoming = [when for _, when in self._next_runs(tx)]
        if not upcoming:
            return MAX_SLEEP_SECONDS
        wait = (min(upcoming) - now).total_seconds()
        if wait <= 0:  # still due right after a look: not ours to fire yet (another engine's); look again soon
            return RETRY_SECONDS
        return min(MAX_SLEEP_SECONDS, wait + LATE_BY_SECONDS)

    async def tick_once(self, now: datetime | None = None) -> list[str]:
        """Handle every due schedule; returns the ids of the missions this engine fired."""
        now = now or datetime.now(UTC)
        self.looks += 1
        with self.store.read() as tx:
            due = [m for m, when in self._next_runs(tx) if when <= now]
        fired = []
        for mission in due:
            if self._leaves_to_others(mission, now):
                continue
            decision = await self.journal.write(functools.partial(self._claim, seen=mission, now=now))
            if decision is not None and decision.fire:
                fired.append(mission.id)
                try:
                    await self.execute(mission.id, announce=functools.partial(_triggered, mission, decision))
                except PolpoError as exc:  # refused before its run started: no `schedule:triggered`
                    await self.journal.emit(ScheduleFailed(mission_id=mission.id, name=mission.name,
                                                           occurrence=decision.fire, error=exc.message))
        return fired

    def _leaves_to_others(self, mission: MissionRecord, now: datetime) -> bool:
        """A due occurrence this engine could not start, still early enough for another engine (one that
        can play its agents) to take: not claimed here yet (looked at again in RETRY_SECONDS)."""
        occurrences = due_occurrences(mission, now)
        if not occurrences or (now - occurrences[-1]).total_seconds() >= DEFER_SECONDS:
            return False
        if mission.status in LIVE_MISSION_STATES:  # skipped, not run: whoever looks first records it
            return False
        problem = self.unplayable(mission.id)
        if problem is not None:
            log.debug("mission %s: left to another engine for now: %s", mission.id, problem)
        return problem is not None

    def _claim(self, tx: Tx, emit: Emit, seen: MissionRecord, now: datetime) -> Decision | None:
        current = tx.mission(seen.id, with_tasks=False)
        if current.next_run_at != seen.next_run_at:
            return None  # another engine handled this occurrence first
        occurrences = due_occurrences(current, now)
        if not occurrences:
            return None
        latest = occurrences[-1]
        fires = on_time(latest, now)
        decision = Decision()
        # An occurrence already recorded (a one-shot time saved again after it fired) is neither fired nor
        # reported again: only what this look claims counts. The compare-and-set above made this engine
        # the only one deciding these occurrences, so a claim refused here is an old record, not a race.
        for occurrence in occurrences[:-1] if fires else occurrences:
            if tx.claim_occurrence(current.id, iso(occurrence), "missed", self.owner):
                decision.missed.append(iso(occurrence))
        if fires:
            running = current.status in LIVE_MISSION_STATES
            if tx.claim_occurrence(current.id, iso(latest), "skipped" if running else "fired", self.owner):
                if running:
                    decision.skipped = iso(latest)
                else:
                    decision.fire = iso(latest)
        nxt = next_run(current, now)
        update: dict[str, Any] = {"next_run_at": iso(nxt) if nxt else None}
        if nxt is None and not decision.fire and current.status == MissionStatus.SCHEDULED:
            update["status"] = MissionStatus.DRAFT  # its schedule is over and never ran it: a draft, as if unscheduled
        tx.put_mission(current.model_copy(update=update))
        if decision.missed:
            emit(ScheduleMissed(mission_id=current.id, name=current.name, count=len(decision.missed),
                                occurrences=decision.missed[:MAX_LISTED_MISSES], reason="no engine was running at the time"))
        if decision.skipped:
            emit(ScheduleMissed(mission_id=current.id, name=current.name, count=1, occurrences=[decision.skipped],
                                reason=f"the previous run is still {current.status.value}"))
        decision.next_run_at = update["next_run_at"]
        return decision


def _triggered(mission: MissionRecord, decision: Decision, execution_count: int) -> ScheduleTriggered:
    """`schedule:triggered`, emitted by the run's first commit: a firing whose execute is refused (an agent
    this engine cannot play) says `schedule:failed` alone, not that a run numbered N+1 was triggered."""
    assert decision.fire is not None
    return ScheduleTriggered(mission_id=mission.id, name=mission.name, occurrence=decision.fire,
                             execution_count=execution_count, next_run_at=decision.next_run_at)
