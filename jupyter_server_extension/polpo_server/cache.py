"""Rendered answers of read routes, reused while the project's state is unchanged; and each record's
wire JSON, reused while the record is unchanged.

A dashboard polling `GET tasks` on a 1,000-task project would otherwise re-read and re-serialise
~400 KB per request. `RenderCache` keeps whole answers: the key is the request (dialect, route, path
and query arguments); the entry is valid for one `AsyncProject.state_version()` token, which changes
on any commit by any process, so an answer is never staler than a fresh read. Concurrent misses of
one key share one rendering. The same token gives the ETag, so clients that send `If-None-Match` get
a 304.

While a mission runs, every commit changes the token, so every list would be rendered afresh: 5,000
tasks parsed and serialised to answer for the one that changed. `RecordCache` keeps each record's
wire JSON with the stored JSON it was rendered from; a list after a commit reads the stored rows
(no parsing), reuses every rendering whose stored JSON is unchanged and renders only the others.
The stored JSON itself is the version, so a reuse is exact whoever wrote the row (this process or
another one): a changed record is never answered from an older rendering. `GET missions` uses it; `GET
tasks` goes further with `tasklist.TaskList` (kept here as `task_lists`), which does not even read the
rows that did not change.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field

from .tasklist import TaskLists

MAX_ENTRIES = 64
#: Records kept per scope (a project's kind of record); beyond, the scope starts afresh.
MAX_RECORDS = 200_000


@dataclass(frozen=True)
class Rendered:
    """An answer's body and the headers that belong to it (a page's `X-Next-Cursor`)."""

    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WireJSON:
    """A library call's answer already as JSON bytes (the dialect still wraps it), with its headers."""

    json: bytes
    headers: dict[str, str] = field(default_factory=dict)


class RenderCache:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[str, Rendered]] = OrderedDict()
        self._rendering: dict[tuple[Hashable, str], asyncio.Future[Rendered]] = {}
        self.hits = 0
        self.misses = 0
        self.records = RecordCache()
        self.task_lists = TaskLists()

    @staticmethod
    def etag(key: Hashable, version: str) -> str:
        return 'W/"' + hashlib.sha1(repr((key, version)).encode()).hexdigest()[:20] + '"'

    async def get(self, key: Hashable, version: str, render: Callable[[], Awaitable[Rendered]]) -> Rendered:
        entry = self._entries.get(key)
        if entry is not None and entry[0] == version:
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[1]
        pending = self._rendering.get((key, version))
        if pending is not None:
            self.hits += 1
            return await asyncio.shield(pending)
        self.misses += 1
        future: asyncio.Future[Rendered] = asyncio.ensure_future(render())
        self._rendering[(key, version)] = future
        try:
            answer = await asyncio.shield(future)
        finally:
            self._rendering.pop((key, version), None)
        self._entries[key] = (version, answer)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return answer

    def clear(self) -> None:
        self._entries.clear()
        self.records.clear()
        self.task_lists.clear()


#: Stored rows as `RecordCache.wire` takes them: (id, position, stored JSON).
Row = tuple[str, int, str]
#: Renders rows to their wire JSON by id, leaving out rows that cannot be read.
RenderRows = Callable[[Sequence[Row]], dict[str, bytes]]


class RecordCache:
    """Each record's wire JSON by (scope, id), kept with the stored JSON it was rendered from. Used on
    the reader threads of the server's projects (`lists.py`), one at a time (`_lock`)."""

    def __init__(self, max_records: int = MAX_RECORDS) -> None:
        self.max_records = max_records
        self._scopes: dict[Hashable, dict[str, tuple[str, bytes]]] = {}
        self._lock = threading.Lock()
        #: records rendered so far (each miss renders one): what tests count instead of timing
        self.renders = 0

    def wire(self, scope: Hashable, rows: Sequence[Row], render: RenderRows, *, whole: bool = False) -> list[bytes]:
        """The wire JSON of `rows`, in their order, leaving out the ones that cannot be read: reused
        where the stored JSON is the one it was rendered from, rendered (all at once, by `render`) where
        not. `whole`: `rows` are every record of the scope, so the ones not among them (deleted) are
        forgotten."""
        with self._lock:
            entries = self._refresh(scope, rows, render, whole)
            return [entry[1] for row in rows if (entry := entries.get(row[0])) is not None]

    def by_id(self, scope: Hashable, rows: Sequence[Row], render: RenderRows, *, whole: bool = False) -> dict[str, bytes]:
        """`wire` by record id."""
        with self._lock:
            entries = self._refresh(scope, rows, render, whole)
            return {row[0]: entry[1] for row in rows if (entry := entries.get(row[0])) is not None}

    def _refresh(self, scope: Hashable, rows: Sequence[Row], render: RenderRows, whole: bool) -> dict[str, tuple[str, bytes]]:
        entries = self._scopes.get(scope)
        if entries is None or len(entries) > self.max_records:
            entries = self._scopes[scope] = {}
        stale = [row for row in rows if (entry := entries.get(row[0])) is None or entry[0] != row[2]]
        if stale:
            fresh = render(stale)
            self.renders += len(fresh)
            for ident, _, doc in stale:
                body = fresh.get(ident)
                if body is None:  # unreadable now: never answer an older rendering for it
                    entries.pop(ident, None)
                else:
                    entries[ident] = (doc, body)
        if whole and len(entries) > len(rows):
            entries = self._scopes[scope] = {row[0]: entries[row[0]] for row in rows if row[0] in entries}
        return entries

    def clear(self) -> None:
        with self._lock:
            self._scopes.clear()
