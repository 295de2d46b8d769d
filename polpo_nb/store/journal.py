"""Group commit: writes submitted in one loop iteration share one transaction.

A write is a function of a transaction and an `emit(name, data)` that appends event rows. The journal
runs every queued write in one `BEGIN IMMEDIATE` transaction (each in its own savepoint, so one failing
write does not undo the others), commits, and only then publishes the events and resolves the
writers' futures: an event is never seen before the state it describes is durable. With ten tasks
finishing together, ten transitions cost one fsync instead of ten.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from ..events.bus import EventBus
from ..events.model import Event
from .sqlite import Store, Tx

T = TypeVar("T")
Emit = Callable[[str, dict[str, Any]], Event]
WriteFn = Callable[[Tx, Emit], T]


class Journal:
    def __init__(self, store: Store, bus: EventBus, loop: asyncio.AbstractEventLoop) -> None:
        self._store = store
        self._bus = bus
        self._loop = loop
        self._queue: list[tuple[WriteFn[Any], asyncio.Future[Any]]] = []

    def write(self, fn: WriteFn[T]) -> asyncio.Future[T]:
        """Queue `fn` for the next group commit (call on the journal's loop); await the result."""
        future: asyncio.Future[T] = self._loop.create_future()
        if not self._queue:
            self._loop.call_soon(self._flush)
        self._queue.append((fn, future))
        return future

    def emit(self, name: str, **data: Any) -> asyncio.Future[Event]:
        """Append one event (nothing else changes)."""
        return self.write(lambda tx, emit: emit(name, data))

    def _flush(self) -> None:
        batch, self._queue = self._queue, []
        try:
            try:
                events, outcomes = self._commit(batch, isolate=False)
            except _WriteFailed:
                # One write raised: run the batch again, each write in its own savepoint, so only that
                # writer fails. The fast path above needs no savepoints, the common case.
                events, outcomes = self._commit(batch, isolate=True)
        except Exception as exc:  # the commit itself failed: every writer learns it
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        self._bus.publish(events)
        for future, ok, value in outcomes:
            if future.done():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    def _commit(self, batch: list[tuple[WriteFn[Any], asyncio.Future[Any]]], *, isolate: bool
                ) -> tuple[list[Event], list[tuple[asyncio.Future[Any], bool, Any]]]:
        events: list[Event] = []
        outcomes: list[tuple[asyncio.Future[Any], bool, Any]] = []
        with self._store.write() as tx:
            now = tx.now

            def emit(name: str, data: dict[str, Any]) -> Event:
                data.setdefault("timestamp", now)
                event = tx.append_event(name, data)
                pending.append(event)
                return event

            for fn, future in batch:
                pending: list[Event] = []
                if not isolate:
                    try:
                        value = fn(tx, emit)
                    except Exception as exc:
                        raise _WriteFailed from exc
                else:
                    try:
                        with self._store.savepoint():
                            value = fn(tx, emit)
                    except Exception as exc:  # noqa: BLE001 - reported to that writer only
                        outcomes.append((future, False, exc))
                        continue
                events.extend(pending)
                outcomes.append((future, True, value))
        return events, outcomes


class _WriteFailed(Exception):
    """A write of an un-isolated batch raised; the transaction was rolled back."""
