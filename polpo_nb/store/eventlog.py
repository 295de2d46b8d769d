"""The event log's rows (`event_batches`), mixed into `Tx`: the events of one transaction in one row.

About ten events are written per task, the bulk of what the engine stores. One row each, they cost an
insert (a B-tree update and a JSON serialisation apiece) and ~200 bytes each; the payloads of one
commit repeat their keys, ids and timestamp. So a transaction's events are one row: the ids `first`
to `last` and a zlib'd JSON array of `[name, payload]`, serialised and compressed once. Ids are still
one per event, contiguous within a row and increasing across rows, so every reader (replays, tails,
`Last-Event-ID`, retention) sees the same events under the same ids as before.

Rows migrated from the old `events` table hold one event each as plain JSON text (schema V8).
"""

from __future__ import annotations

from typing import Any

from ..events.model import Event
from ..events.packing import PackedEvents, pack, unpack
from .statements import Statements

#: Larger ids than SQLite's integers (a client's Last-Event-ID) mean "after everything".
_MAX_ID = 2**62
#: The last id written: the newest row's (rows are in id order; one seek of the primary key).
_LAST_ID = "SELECT last FROM event_batches ORDER BY first DESC LIMIT 1"


class EventRows(Statements):
    """The event queries of a transaction (`Tx` inherits them; `Tx` owns the buffer and flushes it)."""

    #: buffered `(name, payload)` of this transaction, ids `_events_first`..; written as one row at flush
    _events: list[tuple[str, dict[str, Any]]]
    _events_first: int
    _next_event: int | None
    #: the rows this transaction wrote, for the bus to keep once it commits (`written_events`)
    _written: list[PackedEvents]

    def append_event(self, name: str, data: dict[str, Any]) -> Event:
        """Inside `Store.write()` only: the id follows the last stored one, which no other writer can
        take while we hold the write lock."""
        if self._next_event is None:
            row = self._c.execute(_LAST_ID).fetchone()
            self._next_event = (row[0] if row else 0) + 1
        event_id = self._next_event
        self._next_event = event_id + 1
        if not self._events:
            self._events_first = event_id
        self._events.append((name, data))
        return Event(id=event_id, event=name, data=data)

    def _flush_events(self) -> None:
        row = PackedEvents(self._events_first, self._events_first + len(self._events) - 1, pack(self._events))
        self._c.execute("INSERT INTO event_batches (first, last, body) VALUES (?, ?, ?)", row)
        self._written.append(row)
        self._events.clear()

    def written_events(self) -> list[PackedEvents]:
        """Inside `Store.write()`, once it is flushed: the event rows it wrote, which its caller hands the
        bus with the events once committed (the ring keeps these bytes, not the events)."""
        return list(self._written)

    def events_after(self, after: int, *, limit: int = 10_000, upto: int | None = None) -> list[Event]:
        """Up to `limit` events with ids above `after` (and at most `upto`), in order."""
        after = min(after, _MAX_ID)
        # the row holding the event after `after` starts at or before it: one seek of the primary key
        start = self._x("SELECT COALESCE(MAX(first), 0) FROM event_batches WHERE first <= ?", (after + 1,)).fetchone()[0]
        sql, args = "SELECT first, last, body FROM event_batches WHERE first >= ?", [start]
        if upto is not None:
            sql, args = sql + " AND first <= ?", [start, min(upto, _MAX_ID)]
        out: list[Event] = []
        for row in self._x(sql + " ORDER BY first", args).fetchall():
            for event in PackedEvents(*row).events():
                if event.id <= after:
                    continue
                if (upto is not None and event.id > upto) or len(out) >= limit:
                    return out
                out.append(event)
        return out

    def last_event_id(self) -> int:
        row = self._x(_LAST_ID).fetchone()
        return int(row[0]) if row else 0

    def prune_events(self, keep: int) -> int:
        """Drop all but the newest `keep` events; how many went. The row across the cut keeps its newer
        events; when none is kept, an empty row keeps the last id, so ids are never used twice."""
        last = self.last_event_id()
        cut = last - max(keep, 0)  # events up to this id go
        if cut <= 0:
            return 0
        gone = int(self._x("SELECT COALESCE(SUM(last - first + 1), 0) FROM event_batches WHERE last <= ?",
                           (cut,)).fetchone()[0])
        self._x("DELETE FROM event_batches WHERE last <= ?", (cut,))
        across = self._x("SELECT first, last, body FROM event_batches WHERE first <= ?", (cut,)).fetchone()
        if across is not None:
            first, end, body = across
            kept = unpack(body)[cut - first + 1:]
            self._x("DELETE FROM event_batches WHERE first = ?", (first,))
            self._x("INSERT INTO event_batches (first, last, body) VALUES (?, ?, ?)", (cut + 1, end, pack(kept)))
            gone += cut - first + 1
        if cut == last:
            self._x("INSERT INTO event_batches (first, last, body) VALUES (?, ?, ?)", (last, last, pack([])))
        return gone
