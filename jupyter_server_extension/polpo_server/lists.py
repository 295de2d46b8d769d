"""List answers put together from each record's cached wire JSON (cache.RecordCache), page by page.

`GET tasks` reads the stored rows of the list (their JSON, unparsed) in one snapshot and renders only
the records whose stored JSON changed since they were last rendered; the answer is those renderings
joined. So a list after one task moved costs one record's rendering plus reading the rows, instead of
parsing and serialising every task. `GET missions` does the same for each mission's own fields and
for its tasks (a mission's answer holds its tasks). Records that cannot be read are left out and
logged, as the library's lists do (`readable_rows`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from polpo_nb import AsyncProject
from polpo_nb.spec import MissionRecord, TaskRecord, to_jsonable
from polpo_nb.store.sqlite import readable_rows

from .cache import RecordCache, Row, WireJSON
from .dialects import dumps
from .models import MissionQuery, TaskQuery
from .pages import NEXT_CURSOR, encode_cursor


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


async def task_list(project: AsyncProject, query: TaskQuery, records: RecordCache) -> WireJSON:
    """The tasks matching the query's filters in creation order, one page of them if it asks."""
    limit = query.limit
    with project.store.read() as tx:
        rows = tx.task_docs(status=query.status, group=query.group, assign_to=query.assign_to, after_seq=query.after,
                            limit=None if limit is None else limit + 1)
    headers = {}
    if limit is not None and len(rows) > limit:
        rows = rows[:limit]
        headers[NEXT_CURSOR] = encode_cursor(rows[-1][1])
    whole = limit is None and query.cursor is None and not (query.status or query.group or query.assign_to)
    parts = records.wire((str(project.root), "tasks"), rows, render_tasks, whole=whole)
    return WireJSON(b"[" + b",".join(parts) + b"]", headers)


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
    """The missions (with their tasks, as `GET missions/{id}` answers each) in creation order."""
    scope = str(project.root)
    parts = []
    with project.store.read() as tx:
        rows = tx.mission_docs(status=query.status)
        fields = records.by_id((scope, "missions"), rows, render_missions, whole=query.status is None)
        for ident, _, _ in rows:
            own = fields.get(ident)
            if own is None:  # unreadable: left out
                continue
            tasks = records.wire((scope, "mission tasks"), tx.task_docs(mission_id=ident), render_mission_tasks)
            parts.append(own[:-1] + b',"taskCount":%d,"tasks":[' % len(tasks) + b",".join(tasks) + b"]}")
    return WireJSON(b"[" + b",".join(parts) + b"]")
