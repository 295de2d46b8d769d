"""A project's task list as the server answers it, kept up to date by reading only the rows that changed.

While a mission runs, every commit changes the state token (`RenderCache`), so every `GET tasks` is a
list after a commit. Reading every row of the tasks table to find the one that changed costs ~1 µs per
task (5 ms at 5,000, most of a cold list); `TaskList` keeps each task's wire JSON with a digest of its
stored JSON and the mark of the table it is up to date with (`store/revisions.py`), and a list after a commit reads
only the rows written since (an index range), renders those whose stored JSON changed, and puts the
answer together from the kept renderings. When rows were deleted since, it reads every row again (and
forgets the ids that went), still rendering only what changed. The whole list's body is kept too, until
the next change. A row read in the same snapshot as the answer is the version answered, whoever wrote
it: a list is never staler than a fresh read.
"""

from __future__ import annotations

import bisect
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from polpo_nb.store.revisions import TaskMark, TaskRevisions
from polpo_nb.store.sqlite import Store

#: Renders stored rows `(id, seq, doc)` as wire JSON by id, leaving out rows that cannot be read
#: (`lists.render_tasks`; the same signature as `cache.RenderRows`).
RenderRows = Callable[[Sequence[tuple[str, int, str]]], dict[str, bytes]]


@dataclass(slots=True, frozen=True)
class Entry:
    seq: int
    status: str
    assign_to: str
    mission_id: str | None
    #: the digest of the stored JSON the rendering came from, the version it is exact for (the JSON
    #: itself would be a second copy of every task in the server's memory)
    digest: int
    wire: bytes


@dataclass(frozen=True)
class Selection:
    """What a list answers: its records' wire JSON in order, and the position of the last one if more
    match after it (the next page's start)."""

    parts: list[bytes]
    more_after: int | None = None


def json_array(parts: list[bytes]) -> bytes:
    """`parts` (JSON values; the list is used up) as one JSON array, in one allocation: `b"[" +
    b",".join(parts) + b"]"` would copy a body of megabytes twice more, ~1 ms of a cold list of 5,000
    tasks (fresh pages each time)."""
    if not parts:
        return b"[]"
    parts[0] = b"[" + parts[0]
    parts[-1] = parts[-1] + b"]"
    return b",".join(parts)


def _digest(doc: str) -> int:
    """What tells two versions of a stored row apart: Python's string hash, keyed at random per process
    (SipHash, 64 bits: a collision, which would answer an older rendering, can be neither aimed at nor
    met by chance in practice), ~0.4 µs for a 1 KB row where comparing the JSON itself took ~0.2."""
    return hash(doc)


class TaskList:
    """One project's tasks as wire JSON in creation order, as of `mark`."""

    def __init__(self) -> None:
        self.mark: TaskMark | None = None
        self._entries: dict[str, Entry] = {}
        self._order: list[str] = []  # ids by seq (seq is unique)
        self._seqs: list[int] = []  # their seqs, for bisect
        self._sorted = True
        self._body: bytes | None = None
        #: rows read and records rendered so far: what tests count instead of timing
        self.reads = 0
        self.renders = 0

    def sync(self, tx: TaskRevisions, render: RenderRows) -> None:
        """Bring the list up to date with `tx`'s snapshot."""
        mark, prior = tx.task_mark(), self.mark
        if mark == prior:
            return
        whole = prior is None or mark.deletions != prior.deletions or mark.rev < prior.rev
        rows = tx.task_rows_since(None if whole or prior is None else prior.rev)
        self.reads += len(rows)
        entries = self._entries
        if whole and entries:
            present = {row.id for row in rows}
            for ident in [i for i in entries if i not in present]:
                del entries[ident]
                self._sorted = False
        digests = {row.id: _digest(row.doc) for row in rows}
        stale = [row for row in rows if (entry := entries.get(row.id)) is None or entry.digest != digests[row.id]]
        if stale:
            fresh = render([(row.id, row.seq, row.doc) for row in stale])
            self.renders += len(fresh)
            for row in stale:
                old = entries.get(row.id)
                wire = fresh.get(row.id)
                if wire is None:  # unreadable now: left out, never answered from an older rendering
                    if old is not None:
                        del entries[row.id]
                        self._sorted = False
                    continue
                entries[row.id] = Entry(row.seq, row.status, row.assign_to, row.mission_id, digests[row.id], wire)
                if old is None and self._sorted and (not self._seqs or row.seq > self._seqs[-1]):
                    self._order.append(row.id)  # the usual new task: the last in creation order
                    self._seqs.append(row.seq)
                elif old is None or old.seq != row.seq:
                    self._sorted = False
        self.mark = mark
        self._body = None

    def _ordered(self) -> list[str]:
        if not self._sorted:
            entries = self._entries
            self._order = sorted(entries, key=lambda ident: entries[ident].seq)
            self._seqs = [entries[ident].seq for ident in self._order]
            self._sorted = True
        return self._order

    def body(self) -> bytes:
        """The whole list as a JSON array."""
        if self._body is None:
            entries = self._entries
            self._body = json_array([entries[ident].wire for ident in self._ordered()])
        return self._body

    def select(self, *, status: str | None = None, assign_to: str | None = None, missions: set[str] | None = None,
               after: int | None = None, limit: int | None = None) -> Selection:
        """The records matching the filters (`missions`: of one of these missions), after position
        `after`, at most `limit` of them."""
        order = self._ordered()
        entries = self._entries
        start = 0 if after is None else bisect.bisect_right(self._seqs, after)
        parts: list[bytes] = []
        last = 0
        for ident in order[start:] if start else order:
            entry = entries[ident]
            if ((status is not None and entry.status != status) or (assign_to is not None and entry.assign_to != assign_to)
                    or (missions is not None and entry.mission_id not in missions)):
                continue
            if limit is not None and len(parts) == limit:
                return Selection(parts, last)
            parts.append(entry.wire)
            last = entry.seq
        return Selection(parts)


class TaskLists:
    """The `TaskList` of each open store (forgotten with the store: a project opened again starts afresh)."""

    def __init__(self) -> None:
        self._lists: weakref.WeakKeyDictionary[Store, TaskList] = weakref.WeakKeyDictionary()

    def of(self, store: Store) -> TaskList:
        found = self._lists.get(store)
        if found is None:
            found = self._lists[store] = TaskList()
        return found

    def clear(self) -> None:
        self._lists.clear()
