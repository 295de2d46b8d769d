"""What the notebook shows of one mission, as plain data: the live widget and the static HTML both draw it.

`MissionView` starts from a `MissionRecord` (and the recent events), then follows the event stream:
`observe(event)` is cheap (it runs on the engine thread for every event) and only records what must be
re-read; `apply_*` take the re-read records. `graph()` is the DAG's structure (changes only when tasks
are added or removed), `state()` the compact run state (statuses, scores, retries, durations,
progress, last events) that the widget syncs at most ten times a second.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..agents.notebook import latest_executed_copies
from ..events.model import Event
from ..spec import Mission, MissionRecord, TaskRecord
from ..spec.status import RUNNING_TASK_STATES, TERMINAL_MISSION_STATES, MissionStatus, TaskStatus
from ..usage.rollup import UsageTotals
from .layout import layered_layout

EVENTS_SHOWN = 12

#: Events after which a task must be re-read (the others only go to the event list).
TASK_CHANGING = frozenset({"task:transition", "task:updated", "task:retry", "task:fix", "task:completed",
                           "task:timeout", "assessment:completed", "approval:resolved"})
#: Events that add or remove nodes: the whole mission is re-read and laid out again.
STRUCTURE_CHANGING = frozenset({"task:created", "task:removed", "mission:saved", "mission:deleted"})


@dataclass
class Pending:
    """What the events seen since the last flush require re-reading."""

    tasks: set[str] = field(default_factory=set)
    mission: bool = False
    structure: bool = False

    def __bool__(self) -> bool:
        return bool(self.tasks or self.mission or self.structure)


def _epoch_ms(timestamp: str | None) -> float | None:
    if not timestamp:
        return None
    try:
        return datetime.fromisoformat(timestamp).timestamp() * 1000
    except ValueError:
        return None


def _clock(timestamp: str) -> str:
    return timestamp[11:19] if len(timestamp) >= 19 else timestamp


class MissionView:
    def __init__(self, mission: Mission | MissionRecord, events: Iterable[Event] = (), *,
                 project_dir: Path | None = None) -> None:
        self.mission_id = getattr(mission, "id", None)
        #: where the executed copies of notebook tasks are looked up (None: a definition, no links)
        self.project_dir = project_dir
        self.graph_rev = 0
        self.events: deque[dict[str, Any]] = deque(maxlen=EVENTS_SHOWN)
        self.started_at: str | None = None
        self.finished_at: str | None = None
        self.last_activity: str | None = None  # the latest event's time: where a waiting clock stops
        self.running_since: dict[str, str] = {}
        self.notice: str | None = None
        self.spend: dict[str, Any] | None = None  # the mission's totals (apply_usage), shown once it spent any
        #: (pauseReason, pauseMessage) of an active mission whose process stopped (killed): nobody runs it
        self.stopped: tuple[str, str] | None = None
        self.pending = Pending()
        self._graph_keys: list[tuple[Any, ...]] = []
        self.apply_mission(mission)
        for event in events:
            self.observe(event)
        self.pending = Pending()

    # -- input -----------------------------------------------------------------------------------------

    def apply_mission(self, mission: Mission | MissionRecord) -> None:
        """A fresh copy of the whole mission: re-layout if its tasks changed."""
        self.mission = mission
        tasks = list(mission.tasks)
        keys = [(getattr(t, "id", t.title), t.title, tuple(t.depends_on), t.assign_to) for t in tasks]
        if self.graph_rev == 0 or keys != self._graph_keys:
            self._graph_keys = keys
            self.graph_rev += 1
            self.ids = [k[0] for k in keys]
            self.layout = layered_layout([t.title for t in tasks], [t.depends_on for t in tasks])
        self.tasks: dict[str, Any] = dict(zip(self.ids, tasks, strict=True))
        self.titles = {tid: t.title for tid, t in self.tasks.items()}

    def apply_usage(self, totals: UsageTotals) -> None:
        """The mission's spend (`project.mission_usage(...).total`): tokens, USD, calls nobody could price."""
        self.spend = spend_state(totals)

    def apply_tasks(self, tasks: Iterable[TaskRecord]) -> None:
        for task in tasks:
            if task.id in self.tasks:
                self.tasks[task.id] = task

    def relevant(self, event: Event) -> bool:
        data = event.data
        mid = data.get("missionId")
        return (mid is not None and mid == self.mission_id) or data.get("taskId") in self.tasks

    def observe(self, event: Event) -> bool:
        """Note an event; True if it concerns this mission (and the view must be flushed)."""
        if not self.relevant(event):
            return False
        data, name = event.data, event.event
        self.last_activity = event.timestamp
        if name in STRUCTURE_CHANGING:
            self.pending.structure = True
        elif name.startswith(("mission:", "gate:", "checkpoint:")):
            self.pending.mission = True
        if name in TASK_CHANGING and data.get("taskId"):
            self.pending.tasks.add(data["taskId"])
        if name in ("mission:executed", "mission:rerun"):  # the clock counts this execution (or re-run)
            self.started_at, self.finished_at = event.timestamp, None
        elif name == "mission:completed":
            self.finished_at = event.timestamp
        elif name == "task:transition" and data.get("to") == "assigned":
            self.running_since[data["taskId"]] = event.timestamp
        self.events.append({"id": event.id, "time": _clock(event.timestamp), "event": name,
                            "text": describe(event, self.titles)})
        return True

    # -- output ----------------------------------------------------------------------------------------

    def graph(self) -> dict[str, Any]:
        """The DAG's structure: node ids, titles, agents (and notebooks) and positions, edges, canvas size."""
        nodes = [{"id": tid, "title": t.title, "agent": t.assign_to, "x": x, "y": y,
                  **({"notebook": t.notebook} if t.notebook else {})}  # a notebook task's mark (issue 17)
                 for tid, t, (x, y) in zip(self.ids, self.tasks.values(), self.layout.positions, strict=True)]
        return {"rev": self.graph_rev, "nodes": nodes, "edges": [list(e) for e in self.layout.edges],
                "width": self.layout.width, "height": self.layout.height}

    def state(self, now_ms: float | None = None) -> dict[str, Any]:
        """The run state: one small dict per task (nulls left out), progress, mission status, events."""
        tasks: dict[str, dict[str, Any]] = {}
        counts = {"done": 0, "failed": 0, "running": 0, "awaiting": 0}
        for tid, t in self.tasks.items():
            item = task_state(t)
            status = getattr(t, "status", None)
            if status in RUNNING_TASK_STATES:
                since = _epoch_ms(self.running_since.get(tid) or getattr(t, "updated_at", None))
                if since is not None:
                    item["since"] = round(since)
            tasks[tid] = item
            if item["status"] == "done":
                counts["done"] += 1
            elif item["status"] == "failed":
                counts["failed"] += 1
            elif item["status"] == "awaiting_approval":
                counts["awaiting"] += 1
            elif status in RUNNING_TASK_STATES:
                counts["running"] += 1
        mission_status: MissionStatus = getattr(self.mission, "status", None) or MissionStatus.DRAFT
        # The clock runs while the mission works; it stops while it waits for a human (paused at a
        # checkpoint or gate, or nothing left to do but approvals) at the last thing that happened.
        stopped = self.stopped if mission_status == MissionStatus.ACTIVE else None
        waiting = mission_status == MissionStatus.PAUSED or stopped is not None or (
            mission_status == MissionStatus.ACTIVE and not counts["running"] and counts["awaiting"] > 0)
        ticking = mission_status == MissionStatus.ACTIVE and not waiting
        started = _epoch_ms(self.started_at)
        if mission_status in TERMINAL_MISSION_STATES:
            end = _epoch_ms(self.finished_at)
        elif ticking:
            end = now_ms
        else:
            end = _epoch_ms(self.last_activity)
        elapsed = round(max(0.0, (end - started) / 1000), 1) if started is not None and end is not None else None
        links = self._executed_links()
        for tid, link in links.items():
            tasks[tid]["executed"] = link
        mission = {"id": self.mission_id, "name": self.mission.name, "status": mission_status.value}
        for key in ("pause_reason", "pause_message", "error"):
            value = getattr(self.mission, key, None)
            if value:
                mission[key] = value
        if stopped is not None:  # as `resume` finds it (`missions/resumable`)
            mission["pause_reason"], mission["pause_message"] = stopped
        return {
            "graphRev": self.graph_rev,
            "mission": mission,
            "tasks": tasks,
            "progress": {"total": len(tasks), **counts, "elapsed": elapsed, "ticking": ticking and elapsed is not None},
            "events": list(self.events),
            "notice": self.notice,
            **({"spend": self.spend} if self.spend else {}),
            **({"home": str(Path.home())} if links else {}),  # how Jupyter's `serverRoot` may spell it (`~/...`)
        }

    def _executed_links(self) -> dict[str, dict[str, str]]:
        """Each notebook task's latest executed copy, linked three ways (`executed_link`)."""
        if self.project_dir is None:
            return {}
        notebooks = [tid for tid, t in self.tasks.items() if getattr(t, "notebook", None)]
        if not notebooks:
            return {}
        copies = latest_executed_copies(self.project_dir, notebooks)
        return {tid: executed_link(self.project_dir, path) for tid, path in copies.items()}


def executed_link(project_dir: Path, path: str) -> dict[str, str]:
    """Where an executed notebook is, for each place the picture is read: `path` in the project (the
    dashboard's `files/read`), `file` on disk (on a Jupyter page the widget makes a URL of it, relative
    to the page config's `serverRoot`), and `href` relative to this process's working directory, which in
    a kernel is the notebook's directory: the static picture's link, which JupyterLab resolves against
    the notebook and opens in a tab, and which an nbconvert'd HTML page next to the notebook follows."""
    file = Path(project_dir) / path
    return {"path": path, "file": file.as_posix(), "href": quote(Path(os.path.relpath(file, Path.cwd())).as_posix())}


#: Statuses whose result and assessment are the task's own (a task sent back to pending keeps the
#: previous attempt's in its record: not shown, they would be stale).
SETTLED_TASK_STATES = frozenset({TaskStatus.DONE, TaskStatus.FAILED, TaskStatus.AWAITING_APPROVAL})
NOT_STARTED_TASK_STATES = frozenset({TaskStatus.DRAFT, TaskStatus.PENDING})


def spend_state(totals: UsageTotals) -> dict[str, Any] | None:
    """The synced state's `spend`: {tokens, usd?, unpriced?} (None while nothing was spent)."""
    if not totals.requests:
        return None
    out: dict[str, Any] = {"tokens": totals.total_tokens}
    if totals.cost_usd is not None:
        out["usd"] = round(totals.cost_usd, 6)
    if totals.unpriced_requests:
        out["unpriced"] = totals.unpriced_requests
    return out


def failure_reason(error: str | None) -> str | None:
    """Why a failed task did not run to the end, when it is not its own failure: `skipped` (a
    dependency failed) or `aborted` (its mission was)."""
    if not error:
        return None
    first = error.strip().split("\n", 1)[0].lower()
    if first.startswith("skipped"):
        return "skipped"
    if "aborted" in first:
        return "aborted"
    return None


def task_state(t: Any) -> dict[str, Any]:
    """One task's entry of the synced state (a definition has no status yet: `draft`).

    `attempts` is how many times its agent was called (shown when more than one). The record's
    `retries` counts every time the task was sent back, automatically or by hand (`retry_task`,
    `resume(retry_failed=True)`), so it can exceed `maxRetries`, which only bounds the automatic ones."""
    status = getattr(t, "status", None) or TaskStatus.DRAFT
    item: dict[str, Any] = {"status": status.value}
    phase = getattr(t, "phase", None)
    if phase is not None:
        item["phase"] = phase.value
    assessment = getattr(t, "assessment", None)
    if assessment is not None and status not in NOT_STARTED_TASK_STATES:
        if assessment.score is not None:
            item["score"] = round(assessment.score, 2)
        item["passed"] = assessment.passed
    result = getattr(t, "result", None)
    retries = getattr(t, "retries", 0)
    ran = status not in NOT_STARTED_TASK_STATES and (status != TaskStatus.FAILED or bool(result and result.agent))
    attempts = retries + (1 if ran else 0)
    if attempts > 1:
        item["attempts"] = attempts
    if result is not None and status in SETTLED_TASK_STATES:
        if result.duration_ms is not None:
            item["ms"] = round(result.duration_ms, 1)
        usage = result.usage
        if usage is not None and usage.requests:  # what the attempt spent: tokens, USD or unpriced calls
            item["tokens"] = usage.input_tokens + usage.output_tokens
            if usage.cost_usd is not None:
                item["usd"] = round(usage.cost_usd, 6)
            if usage.unpriced_requests:
                item["unpriced"] = usage.unpriced_requests
        reason = failure_reason(result.error) if status == TaskStatus.FAILED else None
        if reason:
            item["reason"] = reason
    return item


def describe(event: Event, titles: dict[str, str]) -> str:
    """One line for the widget's event list (plain text: the front-end never parses it as HTML)."""
    d = event.data
    title = d.get("title") or titles.get(d.get("taskId", ""), "") or d.get("name", "")
    name = event.event
    if name == "task:transition":
        text = f"{title}: {d.get('from')} → {d.get('to')}"
        return text + (f" ({d['reason']})" if d.get("reason") else "")
    if name == "assessment:completed":
        score = d.get("score")
        return f"{title}: score {score if score is not None else '–'}, {'passed' if d.get('passed') else 'failed'}"
    if name == "task:fix":
        feedback = (d.get("feedback") or "").strip().splitlines()
        return f"{title}: fix phase" + (f": {feedback[0][:120]}" if feedback else "")
    if name == "task:output":
        return f"{title}: {str(d.get('text', ''))[:160]}"
    if name == "mission:status":
        return f"mission {d.get('from')} → {d.get('to')}" + (f": {d['pauseMessage']}" if d.get("pauseMessage") else "")
    if name == "mission:rerun":
        return f"re-run from {d.get('fromTask')!r}: {', '.join(d.get('tasks', []))}"
    if name in ("checkpoint:waiting", "checkpoint:resumed"):
        return f"checkpoint {d.get('checkpoint', '')}" + (f": {d['message']}" if d.get("message") else "")
    if name.startswith("gate:"):
        return f"gate {d.get('gate') or d.get('name') or ''}".strip()
    if name.startswith("approval:"):
        what = d.get("checkpoint") or title
        if "approved" in d:
            return f"{what}: {'approved' if d['approved'] else 'rejected'}"
        return f"{what}: approval requested"
    return title
