"""Where the tasks table stands, and the rows written since a given point, mixed into `Tx`: for a reader
that keeps its own copy of the task list (the HTTP server's lists, `polpo_server/tasklist.py`) and
brings it up to date by reading the rows that changed instead of every row.

Every task write numbers its row with the next `rev` (a transaction's flush numbers its rows from
MAX(rev) + 1, read from the `tasks_by_rev` index: store/taskrows.py), and every deletion of a task row, whatever deleted it, counts in
`task_deletions` (a trigger; schema V7). While nothing is deleted MAX(rev) only grows, so the rows
written after a reader's mark are exactly those with a larger rev. A deletion may let a later write
reuse a deleted row's rev; it also moves the deletion count, and the reader then reads every row again.
Writers are serialised (`BEGIN IMMEDIATE`), so revs follow commit order whichever process wrote, and a
reader's queries inside one `Store.read()` see one snapshot: a mark and the rows read with it agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from .statements import Statements


@dataclass(slots=True, frozen=True)
class TaskMark:
    """Where the tasks table stands: its highest rev and how many task rows were ever deleted."""

    rev: int
    deletions: int


@dataclass(slots=True, frozen=True)
class TaskRevRow:
    """A task row with the columns lists filter on; `doc` is the stored JSON, unparsed."""

    id: str
    seq: int
    status: str
    assign_to: str
    mission_id: str | None
    doc: str


_COLUMNS = "id, seq, status, assign_to, mission_id, doc"


class TaskRevisions(Statements):
    """The revision queries of a transaction (`Tx` inherits them)."""

    def task_mark(self) -> TaskMark:
        rev, deletions = self._x("SELECT (SELECT COALESCE(MAX(rev), 0) FROM tasks), (SELECT n FROM task_deletions)").fetchone()
        return TaskMark(rev, deletions)

    def task_rows_since(self, rev: int | None) -> list[TaskRevRow]:
        """The task rows written after `rev` (every row if None), in no particular order."""
        if rev is None:
            cur = self._x(f"SELECT {_COLUMNS} FROM tasks")
        else:
            cur = self._x(f"SELECT {_COLUMNS} FROM tasks WHERE rev > ?", (rev,))
        return [TaskRevRow(*row) for row in cur]

    def mission_ids(self, ref: str) -> set[str]:
        """The ids of the missions `ref` names (by id or by name): what a list's `group` filter means."""
        return {row[0] for row in self._x("SELECT id FROM missions WHERE id = ? OR name = ?", (ref, ref))}
