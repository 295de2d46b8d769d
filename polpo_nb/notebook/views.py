"""pandas views of a project: `project.tasks_df()`, `project.missions_df()`, `project.events_df()` and
`run.results_df()`. Read-only snapshots built from the public API; one row per task, mission or event,
ids as columns (not the index) so frames concatenate and merge without surprises."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Protocol

import pandas as pd

from ..errors import SpecError
from ..events.model import Event, parse_event_id
from ..spec import MissionRecord, TaskRecord
from ..usage.rollup import UsageLine


class Project(Protocol):
    """What the views read of a project: the blocking `polpo_nb.Project`'s public reads."""

    def list_missions(self, *, status: str | None = None) -> list[MissionRecord]: ...

    def get_mission(self, ref: str) -> MissionRecord: ...

    def list_tasks(self, *, status: str | None = None, group: str | None = None, assign_to: str | None = None,
                   mission_id: str | None = None) -> list[TaskRecord]: ...

    def replay(self, after: int = 0, pattern: str | Iterable[str] | None = None) -> list[Event]: ...

OUTPUT_CHARS = 200

TASK_COLUMNS = ["id", "mission", "title", "agent", "status", "phase", "score", "passed", "retries", "max_retries",
                "duration_s", "priority", "depends_on", "created_at", "updated_at"]
MISSION_COLUMNS = ["id", "name", "status", "tasks", "done", "failed", "awaiting_approval", "mean_score",
                   "execution_count", "pause_reason", "error", "created_at", "updated_at"]
RESULT_COLUMNS = ["task_id", "title", "agent", "model", "status", "score", "passed", "retries", "duration_s",
                  "output", "error", "files"]
EVENT_COLUMNS = ["id", "event", "timestamp", "mission_id", "task_id", "data"]
USAGE_COLUMNS = ["key", "label", "input_tokens", "output_tokens", "total_tokens", "cached_tokens", "requests",
                 "tool_calls", "cost_usd", "unpriced_requests", "unpriced_tokens", "duration_s", "attempts"]



def _frame(rows: list[dict[str, Any]], columns: list[str], times: Iterable[str] = ()) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=columns)
    for column in times:
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def _score(task: TaskRecord) -> float | None:
    return task.assessment.score if task.assessment else None


def _duration_s(task: TaskRecord) -> float | None:
    if task.result is None or task.result.duration_ms is None:
        return None
    return task.result.duration_ms / 1000


def task_rows(tasks: Iterable[TaskRecord], missions: dict[str, str]) -> list[dict[str, Any]]:
    return [{
        "id": t.id, "mission": missions.get(t.mission_id or "", t.group), "title": t.title,
        "agent": (t.result.agent if t.result and t.result.agent else t.assign_to), "status": t.status.value,
        "phase": t.phase.value if t.phase else None, "score": _score(t),
        "passed": t.assessment.passed if t.assessment else None, "retries": t.retries, "max_retries": t.max_retries,
        "duration_s": _duration_s(t), "priority": t.priority, "depends_on": list(t.depends_on),
        "created_at": t.created_at, "updated_at": t.updated_at,
    } for t in tasks]


def tasks_df(project: Project, *, mission: str | None = None, status: str | None = None,
             agent: str | None = None) -> pd.DataFrame:
    """Every task (or a mission's, by name or id), filtered by status and agent."""
    missions = {m.id: m.name for m in project.list_missions()}
    mission_id = project.get_mission(mission).id if mission is not None else None
    tasks = project.list_tasks(status=status, assign_to=agent, mission_id=mission_id)
    return _frame(task_rows(tasks, missions), TASK_COLUMNS, ("created_at", "updated_at"))


def missions_df(project: Project, *, status: str | None = None) -> pd.DataFrame:
    """One row per mission: status, task counts, mean score, executions."""
    rows = []
    for m in project.list_missions(status=status):
        scores = [s for t in m.tasks if (s := _score(t)) is not None]
        rows.append({
            "id": m.id, "name": m.name, "status": m.status.value, "tasks": len(m.tasks),
            "done": sum(t.status.value == "done" for t in m.tasks),
            "failed": sum(t.status.value == "failed" for t in m.tasks),
            "awaiting_approval": sum(t.status.value == "awaiting_approval" for t in m.tasks),
            "mean_score": sum(scores) / len(scores) if scores else None, "execution_count": m.execution_count,
            "pause_reason": m.pause_reason, "error": m.error, "created_at": m.created_at, "updated_at": m.updated_at,
        })
    return _frame(rows, MISSION_COLUMNS, ("created_at", "updated_at"))


def results_df(record: MissionRecord | TaskRecord) -> pd.DataFrame:
    """A run's tasks in mission order: who did it, with what model, score, retries, time, output."""
    tasks = record.tasks if isinstance(record, MissionRecord) else [record]
    rows = []
    for t in tasks:
        result = t.result
        content = result.content if result else ""
        rows.append({
            "task_id": t.id, "title": t.title, "agent": (result.agent if result and result.agent else t.assign_to),
            "model": result.model if result else None, "status": t.status.value, "score": _score(t),
            "passed": t.assessment.passed if t.assessment else None, "retries": t.retries, "duration_s": _duration_s(t),
            "output": content if len(content) <= OUTPUT_CHARS else content[: OUTPUT_CHARS - 1] + "…",
            "error": result.error.strip().splitlines()[-1] if result and result.error else None,
            "files": list(result.files_created) if result else [],
        })
    return _frame(rows, RESULT_COLUMNS)


def _since_filter(since: Any) -> tuple[int, datetime | None]:
    """`since` as (event id to replay after, earliest timestamp)."""
    if since is None:
        return 0, None
    if isinstance(since, timedelta | pd.Timedelta):
        return 0, pd.Timestamp.now(tz="UTC").to_pydatetime() - pd.Timedelta(since).to_pytimedelta()
    if isinstance(since, datetime | pd.Timestamp):
        stamp = pd.Timestamp(since)
        return 0, (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp).to_pydatetime()
    refused = SpecError([{"loc": ["since"], "msg": "an event id (42, 'evt_00042'), a datetime, an ISO string or a "
                                                   f"timedelta, not {since!r}"}])
    if isinstance(since, int) or (isinstance(since, str) and (since.isdigit() or since.startswith("evt_"))):
        try:
            return parse_event_id(since) or 0, None
        except SpecError:
            raise refused from None
    if isinstance(since, str):
        try:
            stamp = pd.Timestamp(since)
        except ValueError:  # pandas' DateParseError is one
            raise refused from None
        return 0, (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp).to_pydatetime()
    raise refused


def events_df(project: Project, since: Any = None, pattern: str | Iterable[str] | None = None) -> pd.DataFrame:
    """Events after an id (`since=42` or `"evt_00042"`, as Last-Event-ID), at or after a time (a datetime
    or ISO string), or within a recent window (`since=timedelta(minutes=5)`); `pattern` filters names
    (`"task:*"`). All retained events when `since` is None."""
    after, earliest = _since_filter(since)
    events: list[Event] = project.replay(after, pattern)
    rows = [{"id": e.id, "event": e.event, "timestamp": e.timestamp or None, "mission_id": e.data.get("missionId"),
             "task_id": e.data.get("taskId"), "data": e.data} for e in events]
    frame = _frame(rows, EVENT_COLUMNS, ("timestamp",))
    if earliest is not None:
        frame = frame[frame["timestamp"] >= pd.Timestamp(earliest)].reset_index(drop=True)
    return frame


def usage_df(lines: Iterable[UsageLine]) -> pd.DataFrame:
    """Spend, one row per group (`project.usage_df(by=...)`, `run.usage_df()`): tokens, requests, tool
    calls, USD of the priced calls (NaN when none could be priced) and the unpriced calls apart."""
    rows = [{**line.model_dump(exclude={"duration_ms"}), "duration_s": line.duration_ms / 1000} for line in lines]
    return _frame(rows, USAGE_COLUMNS)
