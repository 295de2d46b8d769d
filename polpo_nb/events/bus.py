"""The in-process side of the event stream: publish committed events in id order, fan them out.

Events are rows of the store first (durable, global integer ids across processes); the bus only
delivers them. `cursor` is the last id delivered: a commit whose ids do not follow it (another process
wrote in between) first delivers the missing rows from the store, so every subscriber in every
process sees one stream, ordered by id, with no gaps. A ring of the last ~1000 events serves
reconnects without touching the store; older replays read the store. The ring holds them packed, as the
store's rows do (`packing.py`): not the events, which would live on in the collector's oldest generation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from typing import TYPE_CHECKING

from .filters import EventFilter
from .model import Event
from .packing import PackedEvents

if TYPE_CHECKING:
    from ..store.sqlite import Store

log = logging.getLogger(__name__)

#: Events the ring keeps at least (whole commits: the oldest goes once the others hold this many).
RING_SIZE = 1000
#: A live subscriber that falls this far behind is dropped; its stream ends and the client reconnects
#: with its last id, losing nothing (the store replays).
MAX_BACKLOG = 10_000
#: A stream's replay reads the store this many events at a time, each page in a worker thread: a client
#: replaying a long history (`Last-Event-ID: 0`) never holds the loop that serves the others.
REPLAY_PAGE = 1_000


class Subscription:
    def __init__(self, bus: EventBus, flt: EventFilter, callback: Callable[[Event], None], counted: bool = True) -> None:
        self._bus = bus
        self.filter = flt
        self.callback = callback
        self.counted = counted

    def close(self) -> None:
        self._bus._unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventBus:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.RLock()
        self._subs: list[Subscription] = []
        #: event name -> the subscribers whose filter takes it, made at the name's first event since the
        #: subscribers last changed: ten events per task meet one dict lookup, not every filter
        self._routes: dict[str, tuple[Subscription, ...]] = {}
        self._ring: deque[PackedEvents] = deque()
        self._ring_events = 0  # how many the ring's rows hold
        with store.read() as tx:
            self.cursor = tx.last_event_id()

    # -- subscribing -----------------------------------------------------------------------------------

    def subscribe(self, callback: Callable[[Event], None], pattern: str | Iterable[str] | None = None, *,
                  counted: bool = True) -> Subscription:
        """`callback` runs on the publishing thread: keep it short, hand work to your own loop. What it
        raises is logged and goes no further: one subscriber cannot stall the journal or the others.
        `counted=False` is for the project's own listeners (its scheduler): they are not clients, so
        `subscriber_count` leaves them out and an unused project can still be seen to be unused."""
        sub = Subscription(self, EventFilter(pattern), callback, counted)
        with self._lock:
            self._subs = [*self._subs, sub]
            self._routes = {}
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subs = [s for s in self._subs if s is not sub]
            self._routes = {}

    @property
    def subscriber_count(self) -> int:
        """Clients listening (SSE and WebSocket streams, widgets, waiters), not the project's own listeners."""
        return sum(sub.counted for sub in self._subs)

    # -- publishing ------------------------------------------------------------------------------------

    def publish(self, events: list[Event], written: list[PackedEvents] | None = None) -> None:
        """Deliver events just committed by this process (ascending ids), filling any gap first.
        `written`: the rows that hold them, which the ring keeps as they are (else it packs them)."""
        if not events:
            return
        with self._lock:
            if events[0].id != self.cursor + 1:
                self._deliver(self._read_after(self.cursor, upto=events[0].id - 1))
            if events[0].id <= self.cursor:  # (delivered already, by a poll that read the store)
                events, written = [e for e in events if e.id > self.cursor], None
            self._deliver(events, written)

    def poll(self) -> int:
        """Deliver events committed by other processes since the cursor; returns how many."""
        with self._lock:
            events = self._read_after(self.cursor)
            self._deliver(events)
            return len(events)

    def _read_page(self, after: int, upto: int) -> list[Event]:
        with self._store.read() as tx:
            return tx.events_after(after, upto=upto, limit=REPLAY_PAGE)

    def _from_ring(self, after: int, upto: int) -> list[Event] | None:
        """The events with ids in (after, upto] from the ring, or None when it does not hold them all (it
        does not reach back so far; a subscriber replays while the events it is given are delivered)."""
        with self._lock:
            ring = list(self._ring)
        if not ring or after < ring[0].first - 1 or upto > ring[-1].last:
            return None
        return [e for row in ring if row.last > after and row.first <= upto
                for e in row.events() if after < e.id <= upto]

    async def _replayed(self, after: int, flt: EventFilter, upto: int) -> AsyncIterator[Event]:
        """`replay`, for a stream: from the ring when it reaches back far enough, else from the store a
        page at a time, off the loop."""
        recent = self._from_ring(after, upto)
        if recent is not None:
            for event in recent:
                if flt.matches(event.event):
                    yield event
            return
        while after < upto:
            page = await asyncio.to_thread(self._read_page, after, upto)
            if not page:
                return
            for event in page:
                if flt.matches(event.event):
                    yield event
            after = page[-1].id

    def _read_after(self, after: int, upto: int | None = None) -> list[Event]:
        with self._store.read() as tx:
            return tx.events_after(after, upto=upto, limit=1_000_000)

    def _deliver(self, events: list[Event], written: list[PackedEvents] | None = None) -> None:
        """To each subscriber, in order; then into the ring, as `written` when those rows hold exactly
        `events` (a commit's own), else packed here (what other processes committed)."""
        if not events:
            return
        routes = self._routes
        for event in events:
            self.cursor = event.id
            subs = routes.get(event.event)
            if subs is None:
                subs = routes[event.event] = tuple(s for s in self._subs if s.filter.matches(event.event))
            for sub in subs:
                try:
                    sub.callback(event)
                except Exception:  # noqa: BLE001 - a subscriber's bug (a closed pipe) must not stall the journal
                    log.exception("event subscriber %r failed on %s", sub.callback, event.event)
        if not written or (written[0].first, written[-1].last, sum(r.size for r in written)) != (
                events[0].id, events[-1].id, len(events)) or any(r.size > RING_SIZE for r in written):
            tail = events[-RING_SIZE:]  # (of a mission's save: its last events)
            if tail[-1].id - tail[0].id + 1 != len(tail):  # not consecutive (rows of an old store): not kept
                self._keep([])
                return
            written = [PackedEvents.of(tail)]
        self._keep(written)

    def _keep(self, rows: list[PackedEvents]) -> None:
        """Rows into the ring, the oldest out while the others hold RING_SIZE events (none: the ring is
        emptied). A replay from the ring unpacks whole rows on the caller's loop, so none holds more than
        RING_SIZE."""
        ring = self._ring
        if not rows or (ring and rows[0].first != ring[-1].last + 1):  # (the tail of a larger commit: what it follows goes)
            ring.clear()
            self._ring_events = 0
        ring.extend(rows)
        self._ring_events += sum(row.size for row in rows)
        while len(ring) > 1 and self._ring_events - ring[0].size >= RING_SIZE:
            self._ring_events -= ring.popleft().size

    # -- replay ----------------------------------------------------------------------------------------

    def replay(self, after: int, pattern: str | Iterable[str] | None = None, *, upto: int | None = None) -> list[Event]:
        """Events with id > `after` (and <= `upto`), from the ring when it reaches back far enough."""
        flt = EventFilter(pattern)
        with self._lock:  # (reentrant: the ring is read under the same hold as the cursor)
            upto = self.cursor if upto is None else upto
            events = self._from_ring(after, upto)
        if events is None:
            events = self._read_after(after, upto=upto)
        return [e for e in events if flt.matches(e.event)]

    async def stream(self, pattern: str | Iterable[str] | None = None, *, after: int | None = None) -> AsyncIterator[Event]:
        """Replay after `after` (if given), then live events, on the caller's loop, with no gap and no
        duplicate between the two. Ends if the consumer falls more than MAX_BACKLOG events behind."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        overflow = False

        def enqueue(event: Event) -> None:
            nonlocal overflow
            if queue.qsize() >= MAX_BACKLOG:
                overflow = True
                queue.put_nowait(None)
            else:
                queue.put_nowait(event)

        def on_event(event: Event) -> None:
            if not overflow:
                loop.call_soon_threadsafe(enqueue, event)

        with self._lock:
            sub = self.subscribe(on_event, pattern)
            start = self.cursor
        try:
            last = start
            if after is not None and after < start:
                async for event in self._replayed(after, EventFilter(pattern), start):
                    yield event
            while True:
                live = await queue.get()
                if live is None:
                    return
                if live.id > last:
                    last = live.id
                    yield live
        finally:
            with contextlib.suppress(Exception):
                sub.close()
