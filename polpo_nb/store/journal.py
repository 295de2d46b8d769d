"""Group commit: writes submitted in one loop iteration share one transaction.

A write is a function of a transaction and an `emit(event)` that appends event rows (`event` is one of
the catalog's classes, `polpo_nb.events.catalog`: nothing else is an event). The journal
runs every queued write in one `BEGIN IMMEDIATE` transaction (each in its own savepoint, so one failing
write does not undo the others), commits, and only then publishes the events and resolves the
writers' futures: an event is never seen before the state it describes is durable. With ten tasks
finishing together, ten transitions cost one fsync instead of ten.

Agents running on worker threads do not finish in the same loop iteration even when they finish
together, so a commit started at the first one's write would take one fsync per straggler. While work
announced with `expecting()` is in flight (an agent call whose end brings a write), the commit waits
for it, but never longer than a commit takes (PostgreSQL's `commit_delay`, made adaptive): waiting at
most what the commit it may save costs can never more than double a write's latency. Nothing is
published or resolved earlier than before; the wait only gathers more writes into the transaction.

A write may be queued `after` others whose commit is still pending (the engine starts a task's
dependents while its result commits, so that their begins share its transaction). Such a write runs in
the same transaction or a later one, and is refused unrun if one of those writes was not stored: what
depends on a write never becomes durable without it.

While another process holds the database's write lock, the batch waits on the loop's timer, not in
SQLite's busy handler (which would hold the loop, and every run, stream and request of the process, for
as long as the other writes): it is tried again every few milliseconds, writes queued meanwhile join
it, and past the busy timeout every writer of it gets the store's "locked" error. A `patient` journal
(the engine's) waits on instead, saying so in the log once per busy timeout: a run's writes change the
run as well as the store (a result, the dependents it releases), and one that failed on a lock left its
task `in_progress` for ever in a run that never ended. Its writes may wait as long as the other process
writes; the project's own requests (a save, a new task) still fail past the timeout, as the user can
try them again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection
from typing import Any, TypeVar

from ..errors import StoreError
from ..events.bus import EventBus
from ..events.catalog import CatalogEvent
from ..events.model import Event
from ..events.packing import PackedEvents
from .locking import LOCK_RETRY, LockWait, StoreBusy, unwritable
from .sqlite import Store, Tx

log = logging.getLogger(__name__)
T = TypeVar("T")
Emit = Callable[[CatalogEvent], Event]
WriteFn = Callable[[Tx, Emit], T]
#: A queued write: its function, its writer's future, the writes it must follow (`after`), its `stored`.
_Queued = tuple[WriteFn[Any], asyncio.Future[Any], Collection[asyncio.Future[Any]], Callable[[Any], None] | None]
#: a commit's events, and the rows that hold them (`EventBus.publish`)
_Published = tuple[list[Event], list[PackedEvents]]

#: The longest a commit waits for expected writes (seconds), whatever commits have cost so far.
MAX_LINGER = 0.002


class WriteNotStored(StoreError):
    """A write queued after another that was not stored: refused unrun."""


class Journal:
    def __init__(self, store: Store, bus: EventBus, loop: asyncio.AbstractEventLoop, *, patient: bool = False) -> None:
        #: Past the busy timeout, wait on for another process's write lock instead of failing the writes.
        self.patient = patient
        self._store = store
        self._bus = bus
        self._loop = loop
        self._queue: list[_Queued] = []
        self._expected = 0  # writes announced by `expect()` / `expecting()` and not yet arrived
        self._linger: asyncio.TimerHandle | None = None  # the deferred flush while they are awaited
        self._due = 0.0  # (loop time) the latest the queued batch may wait for expected writes
        self._commit_cost = 0.0  # a moving average of a commit's duration: how long a flush may wait
        self._expecting = _Expecting(self)
        self._lock_wait: LockWait | None = None  # while the batch waits for another process's write lock
        self._unawaited_failed = False  # an `unawaited` write failed since the last commit (said once)

    def write(self, fn: WriteFn[T], *, after: Collection[asyncio.Future[Any]] = (),
              stored: Callable[[T], None] | None = None) -> asyncio.Future[T]:
        """Queue `fn` for the next group commit (call on the journal's loop); await the result. With
        `after` (futures of earlier writes), `fn` runs only if each of them is stored. `stored(result)`
        is called once it is committed, before any writer of the batch resumes, even if this one's
        future was cancelled meanwhile (its waiter gave up; the write was made all the same): for the
        writer's in-memory copy of what it wrote, which must follow the store."""
        future: asyncio.Future[T] = self._loop.create_future()
        if not self._queue:
            wait = min(self._commit_cost, MAX_LINGER)
            self._due = self._loop.time() + wait
            if self._expected:
                self._linger = self._loop.call_later(wait, self._flush)
            else:
                self._loop.call_soon(self._flush)
        self._queue.append((fn, future, after, stored))
        return future

    def expect(self) -> Callable[[], None]:
        """Announce a write to come (a job about to begin its task's attempt) across calls, where a
        `with expecting()` block does not fit; call what it returns once the write is queued, or when it
        will not come (calling it again does nothing)."""
        self._expected += 1
        pending = [True]

        def arrived() -> None:
            if pending:
                pending.clear()
                self._arrived()
        return arrived

    def expecting(self) -> _Expecting:
        """Around work whose end usually brings a write (an agent call): a commit due meanwhile waits a
        little for it, so writes that arrive a few microseconds apart share one transaction."""
        return self._expecting

    def _arrived(self) -> None:
        self._expected -= 1
        if not self._expected and self._linger is not None:
            self._linger.cancel()  # nothing more is coming: commit at the next iteration
            self._linger = None
            self._loop.call_soon(self._flush)

    def emit(self, event: CatalogEvent) -> asyncio.Future[Event]:
        """Append one event (nothing else changes)."""
        _check_event(event)  # refused here, in the caller's frame, not at the commit
        return self.write(lambda tx, emit: emit(event))

    def unawaited(self, fn: WriteFn[Any]) -> None:
        """A write nobody waits for (an agent's output, a log line, a budget warning): its failure is
        said in the log, once until a commit succeeds again (an agent streaming its output into a full
        disk would say it a thousand times), instead of asyncio's "exception was never retrieved"."""
        self.write(fn).add_done_callback(self._unstored)

    def _unstored(self, future: asyncio.Future[Any]) -> None:
        if future.cancelled() or future.exception() is None or self._unawaited_failed:
            return
        self._unawaited_failed = True
        log.warning("polpo: a write nobody waited for (an agent's output, log line or budget warning) was not "
                    "stored (the next such failures are not said until a commit succeeds again): %s",
                    future.exception())

    def _flush(self) -> None:
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        if not self._queue:
            return
        if self._expected:  # announced since this flush was scheduled: wait for them, as long as allowed
            wait = self._due - self._loop.time()
            if wait > 0:
                self._linger = self._loop.call_later(wait, self._flush)
                return
        batch, self._queue = self._queue, []
        try:
            try:
                started = time.perf_counter()
                published, outcomes = self._commit(batch, isolate=False)
                self._commit_cost = 0.8 * self._commit_cost + 0.2 * (time.perf_counter() - started)
            except _WriteFailed:
                # One write raised: run the batch again, each write in its own savepoint, so only that
                # writer fails. The fast path above needs no savepoints, the common case.
                published, outcomes = self._commit(batch, isolate=True)
        except StoreBusy as busy:  # another process writes: the batch goes back, first in line, for a while
            self._lock_wait = self._lock_wait or LockWait(self._store.busy_timeout)
            try:
                delay = self._next_try(self._lock_wait, busy)
            except StoreError as failure:
                self._lock_wait = None
                self._fail(batch, failure)
                return
            self._queue[:0] = batch
            self._linger = self._loop.call_later(delay, self._flush)
            return
        except Exception as exc:  # the commit itself failed: every writer learns it
            self._lock_wait = None
            self._fail(batch, exc)
            return
        self._lock_wait = None
        self._unawaited_failed = False
        for (_, _, _, stored), (_, ok, value) in zip(batch, outcomes, strict=True):
            if ok and stored is not None:
                stored(value)
        self._bus.publish(*published)
        for future, ok, value in outcomes:
            if future.done():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    async def exclusively(self, fn: WriteFn[T]) -> T:
        """`fn` alone in a write transaction of its own, outside any batch, so that it runs exactly once
        (work that is not only rows: a file edited under the write lock), once the lock is free, waited
        for on the loop as a batch waits. Its events are published once it is committed, as a batch's."""
        wait = LockWait(self._store.busy_timeout)
        while True:
            events: list[Event] = []
            try:
                with self._store.write(wait=False) as tx:
                    value = fn(tx, _appender(tx, events))
                    written = _written(tx)
            except StoreBusy as busy:
                await asyncio.sleep(self._next_try(wait, busy))
                continue
            self._bus.publish(events, written)
            return value

    def _next_try(self, wait: LockWait, busy: StoreBusy) -> float:
        """Seconds until the write lock is tried again. Past the busy timeout, the "locked" error, unless
        the journal is patient: then it tries on, and says in the log how long it has waited."""
        delay = wait.next_delay()
        if delay is not None:
            return delay
        if not self.patient:
            raise wait.locked(self._store.path, busy) from None
        log.warning("polpo: %s has been locked by another process for %.0f s; this engine's writes (its runs' "
                    "progress) wait for it", self._store.path, wait.waited)
        wait.restart()
        return LOCK_RETRY[1]

    @staticmethod
    def _fail(batch: list[_Queued], exc: BaseException) -> None:
        """The commit failed: every writer of the batch learns it."""
        for _, future, _, _ in batch:
            if not future.done():
                future.set_exception(exc)

    def _commit(self, batch: list[_Queued], *, isolate: bool
                ) -> tuple[_Published, list[tuple[asyncio.Future[Any], bool, Any]]]:
        events: list[Event] = []
        outcomes: list[tuple[asyncio.Future[Any], bool, Any]] = []
        refused: set[asyncio.Future[Any]] = set()  # this batch's writes that were not stored
        with self._store.write(wait=False) as tx:
            for fn, future, after, _ in batch:
                pending: list[Event] = []
                emit = _appender(tx, pending)
                if after and any(f in refused or not_stored(f) for f in after):
                    refused.add(future)
                    outcomes.append((future, False, WriteNotStored("a write it depends on was not stored")))
                    continue
                if not isolate:
                    try:
                        value = fn(tx, emit)
                    except Exception as exc:
                        if unwritable(exc):  # SQLite may have ended the transaction: Store.write fails it whole
                            raise
                        raise _WriteFailed from exc
                else:
                    try:
                        with self._store.savepoint():
                            value = fn(tx, emit)
                    except Exception as exc:  # noqa: BLE001 - reported to that writer only
                        if unwritable(exc):
                            raise
                        refused.add(future)
                        outcomes.append((future, False, exc))
                        continue
                events.extend(pending)
                outcomes.append((future, True, value))
            written = _written(tx)
        return (events, written), outcomes


def _written(tx: Tx) -> list[PackedEvents]:
    """At the end of a write: its buffered rows written, and its event rows, which the bus keeps."""
    tx.flush()
    return tx.written_events()


def _appender(tx: Tx, rows: list[Event]) -> Emit:
    """The `emit` of one write: each event becomes a row of `tx` (stamped with its time), kept in `rows`
    to be published once the transaction commits."""
    now = tx.now

    def emit(event: CatalogEvent) -> Event:
        if not isinstance(event, CatalogEvent):  # inline: ten events per task pass here
            _check_event(event)
        data = event.to_wire()
        data.setdefault("timestamp", now)
        row = tx.append_event(event.event, data)
        rows.append(row)
        return row
    return emit


def not_stored(future: asyncio.Future[Any]) -> bool:
    """A write nothing may follow: its commit failed, it was refused, or its future was cancelled (its
    outcome is then unknown to its writer, so a write `after` it is refused too)."""
    return future.done() and (future.cancelled() or future.exception() is not None)


def _check_event(event: object) -> None:
    if not isinstance(event, CatalogEvent):
        raise TypeError(f"emit() takes an event of polpo_nb.events.catalog (e.g. TaskTransition(...)), "
                        f"not {type(event).__name__}: {event!r:.80}")


class _Expecting:
    """`Journal.expecting()`'s context manager: one per journal, reused (it holds no state of its own),
    and a class rather than a generator, as it wraps every agent call (a generator's costs ~1 µs more)."""

    __slots__ = ("_journal",)

    def __init__(self, journal: Journal) -> None:
        self._journal = journal

    def __enter__(self) -> None:
        self._journal._expected += 1

    def __exit__(self, *exc: object) -> None:
        self._journal._arrived()


class _WriteFailed(Exception):
    """A write of an un-isolated batch raised; the transaction was rolled back."""
