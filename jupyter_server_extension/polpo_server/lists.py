"""List answers put together from each record's kept wire JSON, page by page.

`GET tasks` brings the project's `TaskList` (tasklist.py) up to date, reading only the task rows
written since it last was and rendering only the records whose stored JSON changed; the answer is the
kept renderings joined (the whole list's body is kept as well, until the next change). So a list after
one task moved costs that row's reading and rendering, instead of reading every task. `GET missions`
reads each mission's rows and its tasks' rows and renders, through `cache.RecordCache`, only the
records whose stored JSON changed (a mission's answer holds its tasks). Records that cannot be read are
left out and logged, as the library's lists do (`readable_rows`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from polpo_nb import AsyncProject
from polpo_nb.spec import MissionRecord, TaskRecord, to_jsonable
from polpo_nb.store.sqlite import Tx, readable_rows

from .cache import RecordCache, Row, WireJSON
from .dialects import dumps
from .models import MissionQuery, TaskQuery
from .pages import NEXT_CURSOR, encode_cursor
from .tasklist import TaskLists, json_array


def _rendered(model: type[TaskRecord] | type[MissionRecord], what: str, rows: Sequence[Row],
              edit: Callable[[dict[str, Any]], None] | None = None) -> dict[str, bytes]:
    """Stored rows as their records' wire JSON, by id (`edit` adjusts each record's fields first);
    unreadable rows are left out."""
    out = {}
    for record in readable_rows(model, [(ident, doc) for ident, _, doc in rows], what):
        fields = to_jsonable(record)
        if edit is not None:
            edit(fields)
        out[record.id] = dumps(fields).encode()
    return out


def render_tasks(rows: Sequence[Row]) -> dict[str, bytes]:
    """Stored task rows as their wire JSON (what `GET tasks/{id}` answers), by id."""
    return _rendered(TaskRecord, "Task", rows)


async def task_list(project: AsyncProject, query: TaskQuery, lists: TaskLists) -> WireJSON:
    """The tasks matching the query's filters in creation order, one page of them if it asks. Read and
    rendered on the project's reader thread (`project.reads`), the only one that touches its `TaskList`."""
    tasks = lists.of(project.store)

    def read(tx: Tx) -> WireJSON:
        tasks.sync(tx, render_tasks)
        if query.limit is None and query.cursor is None and not (query.status or query.group or query.assign_to):
            return WireJSON(tasks.body())
        page = tasks.select(status=None if query.status is None else query.status.value, assign_to=query.assign_to,
                            missions=None if query.group is None else tx.mission_ids(query.group),
                            after=query.after, limit=query.limit)
        headers = {} if page.more_after is None else {NEXT_CURSOR: encode_cursor(page.more_after)}
        return WireJSON(json_array(page.parts), headers)
    return await project.reads(read)


def render_mission_tasks(rows: Sequence[Row]) -> dict[str, bytes]:
    """Tasks as a mission's answer holds them: as `render_tasks`, but without the `phase: null` a
    task's own answer shows (TaskRecord.to_wire adds it for seed 002; a mission dumps its tasks whole)."""
    def no_null_phase(fields: dict[str, Any]) -> None:
        if fields.get("phase", "") is None:
            del fields["phase"]
    return _rendered(TaskRecord, "Task", rows, no_null_phase)


def render_missions(rows: Sequence[Row]) -> dict[str, bytes]:
    """Stored mission rows (their own fields) as wire JSON objects without `tasks` and `taskCount`,
    which `mission_list` adds from the tasks table."""
    def own_fields(fields: dict[str, Any]) -> None:
        fields.pop("tasks", None)
        fields.pop("taskCount", None)
    return _rendered(MissionRecord, "Mission", rows, own_fields)


async def mission_list(project: AsyncProject, query: MissionQuery, records: RecordCache) -> WireJSON:
    """The missions (with their tasks, as `GET missions/{id}` answers each) in creation order, read
    and rendered on the project's reader thread (`project.reads`)."""
    scope = str(project.root)

    def read(tx: Tx) -> WireJSON:
        parts = []
        rows = tx.mission_docs(status=query.status)
        fields = records.by_id((scope, "missions"), rows, render_missions, whole=query.status is None)
        for ident, _, _ in rows:
            own = fields.get(ident)
            if own is None:  # unreadable: left out
                continue
            tasks = records.wire((scope, "mission tasks"), tx.task_docs(mission_id=ident), render_mission_tasks)
            parts.append(own[:-1] + b',"taskCount":%d,"tasks":[' % len(tasks) + b",".join(tasks) + b"]}")
        return WireJSON(json_array(parts))
    return await project.reads(read)
