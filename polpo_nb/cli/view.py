"""What a terminal shows while a mission runs: a live Rich view, or plain lines.

On a terminal: a Rich `Live` panel of the DAG (counts by status, the running tasks, scores and retries,
the last lines agents wrote with `ctx.output()`), redrawn a few times a second. Anywhere else (a pipe,
a file, CI): one plain line per meaningful event, flushed as it comes.

Neither view runs on the engine: events reach them through a queue (see `watch.py`) and they draw on
the main thread, so a slow terminal cannot slow the engine. Output goes through `SafeStream`: once
the reader is gone (`polpo run ... | head -1`) writing stops silently and the run goes on.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ..events.model import Event
from ..spec import MissionRecord, MissionStatus, TaskRecord
from .printable import printable

#: The events a progress view shows (outputs included: they are what an agent says it is doing).
SHOWN = ("task:transition", "task:fix", "task:retry", "task:timeout", "task:output", "assessment:completed",
         "gate:*", "checkpoint:*", "approval:*", "delay:*", "mission:status", "mission:rerun", "mission:completed")
OUTPUT_LINES = 6
TABLE_ROWS = 15
_ORDER = {"in_progress": 0, "review": 1, "assigned": 2, "awaiting_approval": 3, "failed": 4, "pending": 5,
          "done": 6, "draft": 7}
_STYLE = {"in_progress": "yellow", "review": "magenta", "assigned": "yellow", "awaiting_approval": "cyan",
          "done": "green", "failed": "red", "pending": "dim", "draft": "dim"}


class SafeStream:
    """A text stream that never raises: when the reader has gone (EPIPE), it goes quiet for good and
    points the file descriptor at /dev/null, so nothing complains at exit either."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self.closed_by_reader = False

    def write(self, text: str) -> int:
        if not self.closed_by_reader:
            try:
                self._stream.write(text)
            except (BrokenPipeError, ValueError, OSError):
                self._gone()
        return len(text)

    def flush(self) -> None:
        if not self.closed_by_reader:
            try:
                self._stream.flush()
            except (BrokenPipeError, ValueError, OSError):
                self._gone()

    def isatty(self) -> bool:
        return not self.closed_by_reader and self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self._stream, "encoding", "utf-8")

    def _gone(self) -> None:
        self.closed_by_reader = True
        with contextlib.suppress(OSError, ValueError, AttributeError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)


def event_line(event: Event, titles: dict[str, str], elapsed: float) -> str:
    """One event as one line: `[  1.20s] task:transition   Draft notes   in_progress -> review`."""
    data = event.data
    if data.get("taskId") and data.get("title"):
        titles[data["taskId"]] = data["title"]
    title = data.get("title") or titles.get(data.get("taskId", ""), data.get("name", ""))
    details: dict[str, Callable[[], str]] = {
        "task:transition": lambda: f"{data['from']} -> {data['to']}" + (f"  ({data['reason']})" if data.get("reason") else ""),
        "task:output": lambda: str(data.get("text", "")),
        "assessment:completed": lambda: ("" if data.get("score") is None else f"score {data['score']:g}  ")
        + ("passed" if data.get("passed") else "FAILED"),
        "task:fix": lambda: "fix phase: " + ((data.get("feedback") or "").splitlines() or [""])[0][:80],
        "mission:status": lambda: f"{data.get('from')} -> {data.get('to')}" + (f"  {data['pauseMessage']}" if data.get("pauseMessage") else ""),
        "mission:rerun": lambda: f"from {data.get('fromTask')!r}: {', '.join(data.get('tasks', []))}",
    }
    default = lambda: str(data.get("checkpoint") or data.get("gate") or data.get("status") or data.get("kind") or "")  # noqa: E731
    return printable(f"[{elapsed:6.2f}s] {event.event:22} {title:24} {details.get(event.event, default)()}".rstrip())


class View(Protocol):
    def start(self, mission: MissionRecord | None, tasks: list[TaskRecord]) -> None: ...
    def add(self, event: Event) -> None: ...
    def tick(self) -> None: ...
    def stop(self) -> None: ...


class LineView:
    """Plain lines, one per event (pipes, files, CI, `--plain`)."""

    def __init__(self, out: SafeStream) -> None:
        self.out = out
        self._titles: dict[str, str] = {}
        self._start = time.perf_counter()

    def start(self, mission: MissionRecord | None, tasks: list[TaskRecord]) -> None:
        self._titles.update({t.id: t.title for t in tasks})

    def add(self, event: Event) -> None:
        self.out.write(event_line(event, self._titles, time.perf_counter() - self._start) + "\n")
        self.out.flush()

    def tick(self) -> None:
        pass

    def stop(self) -> None:
        self.out.flush()


@dataclass
class _Row:
    title: str
    agent: str
    status: str
    score: float | None = None
    retries: int = 0


@dataclass
class RunPicture:
    """What the live view draws, kept up to date from events (no store reads while it runs). Text from
    tasks and agents is kept `printable`: Rich would hand its terminal controls to the terminal."""

    name: str = ""
    status: str = "active"
    rows: dict[str, _Row] = field(default_factory=dict)
    outputs: deque[str] = field(default_factory=lambda: deque(maxlen=OUTPUT_LINES))
    pause: str = ""
    started: float = field(default_factory=time.monotonic)
    stopped_at: float | None = None

    def load(self, mission: MissionRecord | None, tasks: list[TaskRecord]) -> None:
        if mission is not None:
            self.name, self.status = printable(mission.name), mission.status.value
        for t in tasks:
            self.rows[t.id] = _Row(printable(t.title), printable(t.assign_to), t.status.value,
                                   t.assessment.score if t.assessment else None, t.retries)

    def apply(self, event: Event) -> None:
        data: dict[str, Any] = event.data
        row = self.rows.get(data.get("taskId", ""))
        if event.event == "task:transition" and row:
            row.status = data["to"]
            row.agent = printable(data.get("agentName") or row.agent)
            if data["to"] == "pending":
                row.score = None
        elif event.event == "assessment:completed" and row:
            row.score = data.get("score")
        elif event.event == "task:retry" and row:
            row.retries = data.get("retries", row.retries)
        elif event.event == "task:fix" and row:  # a fix attempt counts as a retry (TaskRecord.retries)
            row.retries = data.get("retries", row.retries + 1)
        elif event.event == "task:output" and row:
            for line in str(data.get("text", "")).splitlines() or [""]:
                self.outputs.append(f"{row.title}: {printable(line)}")
        elif event.event == "mission:status":
            self.status = data.get("to", self.status)
            self.pause = printable(data.get("pauseMessage") or "")
            # the clock shows working time: it stops while the mission waits or is over
            if self.status == MissionStatus.ACTIVE.value:
                if self.stopped_at is not None:
                    self.started += time.monotonic() - self.stopped_at
                self.stopped_at = None
            elif self.stopped_at is None:
                self.stopped_at = time.monotonic()

    def elapsed(self) -> float:
        return (self.stopped_at or time.monotonic()) - self.started

    def render(self) -> Group:
        counts: dict[str, int] = {}
        for row in self.rows.values():
            counts[row.status] = counts.get(row.status, 0) + 1
        done = counts.get("done", 0)
        header = Text.assemble((self.name, "bold"), "  ", (self.status, _mission_style(self.status)),
                               f"  {done}/{len(self.rows)} done  {self.elapsed():.1f}s")
        if self.pause:
            header.append(f"  {self.pause}", style="cyan")
        tally = Text("  ".join(f"{status.replace('_', ' ')} {counts[status]}"
                               for status in sorted(counts, key=lambda s: _ORDER.get(s, 9))), style="dim")
        table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")  # cells as Text: never markup
        for column in ("task", "agent", "status", "score", "retries"):
            table.add_column(column)
        rows = sorted(self.rows.values(), key=lambda r: _ORDER.get(r.status, 9))
        for row in rows[:TABLE_ROWS]:
            table.add_row(Text(row.title), Text(row.agent), Text(row.status, style=_STYLE.get(row.status, "")),
                          "" if row.score is None else f"{row.score:g}", f"↻{row.retries}" if row.retries else "")
        if len(rows) > TABLE_ROWS:
            table.add_row(f"... {len(rows) - TABLE_ROWS} more", "", "", "", "")
        parts: list[Any] = [header, tally, table]
        if self.outputs:
            parts.append(Text("\n".join(self.outputs), style="dim"))
        return Group(*parts)


def _mission_style(status: str) -> str:
    return {"completed": "green", "failed": "red", "cancelled": "red", "paused": "cyan"}.get(status, "yellow")


class LiveView:
    """The Rich live panel (a terminal)."""

    def __init__(self, out: SafeStream) -> None:
        self.picture = RunPicture()
        self.console = Console(file=out)  # type: ignore[arg-type]
        self._live = Live(console=self.console, auto_refresh=False, transient=False)

    def start(self, mission: MissionRecord | None, tasks: list[TaskRecord]) -> None:
        self.picture.load(mission, tasks)
        self._live.start()
        self.tick()

    def add(self, event: Event) -> None:
        self.picture.apply(event)

    def tick(self) -> None:
        self._live.update(self.picture.render(), refresh=True)

    def stop(self) -> None:
        self.tick()
        self._live.stop()


def make_view(out: SafeStream, *, plain: bool = False) -> View:
    return LiveView(out) if out.isatty() and not plain else LineView(out)


def stdout() -> SafeStream:
    """The process's stdout, wrapped so that a closed pipe never raises (installed as sys.stdout too,
    so a stray print cannot raise either)."""
    current = sys.stdout
    if isinstance(current, SafeStream):
        return current
    safe = SafeStream(current)
    sys.stdout = safe
    return safe


def print_events(project: Any, out: IO[str] | None = None) -> Any:
    """Print the progress lines of a project's events as they are published (scripts, the demo); the
    subscription is returned to close. The lines go through a SafeStream: a closed pipe cannot raise
    into the publisher."""
    stream = out if isinstance(out, SafeStream) else SafeStream(out or sys.stdout)
    titles: dict[str, str] = {}
    started = time.perf_counter()

    def show(event: Event) -> None:
        stream.write(event_line(event, titles, time.perf_counter() - started) + "\n")
        stream.flush()
    return project.subscribe(show, SHOWN)
