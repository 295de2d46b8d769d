"""Task rows, mixed into `Tx`: put in memory during a transaction, written at its flush.

A task moves several times in one transaction (pending -> assigned -> in_progress, review -> done), so
a put only keeps the record, and the row is written once, at the flush (before COMMIT or any query),
from the last record put. Rows are numbered with the next revisions (store/revisions.py) in put order.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..spec import TaskRecord
from .docs import storable
from .statements import Statements

_UPDATE_TASK = "UPDATE tasks SET status = ?, assign_to = ?, doc = ?, rev = ? WHERE id = ? AND mission_id IS ? AND seq = ?"
#: `_UPDATE_TASK`'s rows, as inserts or updates of every column
_UPSERT_TASK = ("INSERT INTO tasks (status, assign_to, doc, rev, id, mission_id, seq) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET mission_id=excluded.mission_id, seq=excluded.seq, "
                "status=excluded.status, assign_to=excluded.assign_to, doc=excluded.doc, rev=excluded.rev")


class TaskRows(Statements):
    """The task puts of a transaction (`Tx` inherits them; `Tx` owns the buffers, flushes and resets them)."""

    _tasks: dict[str, TaskRecord]  # by id, the last record put
    _new_tasks: set[str]  # of `_tasks`, those put as new rows (`put_new_task`)

    def put_task(self, task: TaskRecord) -> None:
        """Buffered; serialised at flush. Records are treated as immutable (changes make copies), so
        the one stored is the last put."""
        self._tasks[task.id] = task

    def put_new_task(self, task: TaskRecord) -> None:
        """`put_task` for a task created now: its row is inserted without first being tried as an update
        of a stored one (a mission's thousands of tasks at its save)."""
        self._tasks[task.id] = task
        self._new_tasks.add(task.id)

    def _flush_tasks(self) -> None:
        """The buffered task rows, numbered with the next revs in put order. Nearly every one is a row
        already stored (a transition of a running task): a plain UPDATE, which leaves the mission index
        and the foreign key alone, where an upsert tries an insert first and rewrites them. A row the
        UPDATE misses (one whose mission or number changed) makes the batch go again as upserts, which
        set the same values."""
        rev = self._c.execute("SELECT COALESCE(MAX(rev), 0) FROM tasks").fetchone()[0] + 1
        tasks, new = list(self._tasks.values()), self._new_tasks
        self._tasks.clear()
        if new:  # rows put as new (a mission's tasks, saved): inserted, never tried as updates first
            created = [t for t in tasks if t.id in new]
            tasks = [t for t in tasks if t.id not in new]
            new.clear()
            self._c.executemany(_UPSERT_TASK, _task_rows(created, rev))
            rev += len(created)
        if tasks and self._c.executemany(_UPDATE_TASK, _task_rows(tasks, rev)).rowcount != len(tasks):
            self._c.executemany(_UPSERT_TASK, _task_rows(tasks, rev))


def _task_rows(tasks: list[TaskRecord], rev: int) -> Iterator[tuple[Any, ...]]:
    """The rows of `_UPDATE_TASK` / `_UPSERT_TASK`, numbered from `rev`, each serialised as the statement
    takes it: a mission's save holds one task's JSON at a time, not every task's at once."""
    for i, t in enumerate(tasks):
        yield (t.status.value, t.assign_to, storable(TaskRecord, t.model_dump_json(by_alias=True, exclude_none=True)),
               rev + i, t.id, t.mission_id, t.seq)
