"""Live progress on a terminal: one line per meaningful event, for scripts, `polpo run` and the demo."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from .events.model import Event

_SHOWN = ("task:transition", "task:fix", "task:retry", "task:timeout", "assessment:completed", "gate:*",
          "checkpoint:*", "approval:*", "mission:status", "mission:completed")


class ProgressPrinter:
    """Subscribes to a project's events and prints them as they are committed."""

    def __init__(self, project, out: TextIO | None = None) -> None:
        self._out = out or sys.stdout
        self._start = time.perf_counter()
        self._titles: dict[str, str] = {}
        self._sub = project.subscribe(self._print, _SHOWN)

    def close(self) -> None:
        self._sub.close()

    def _print(self, event: Event) -> None:
        data = event.data
        title = data.get("title") or self._titles.get(data.get("taskId", ""), data.get("name", ""))
        if data.get("taskId") and data.get("title"):
            self._titles[data["taskId"]] = data["title"]
        detail = {
            "task:transition": lambda: f"{data['from']} -> {data['to']}" + (f"  ({data['reason']})" if data.get("reason") else ""),
            "assessment:completed": lambda: f"score {data.get('score')}  {'passed' if data.get('passed') else 'FAILED'}",
            "task:fix": lambda: f"fix phase: {(data.get('feedback') or '').splitlines()[0][:80] if data.get('feedback') else ''}",
            "mission:status": lambda: f"{data.get('from')} -> {data.get('to')}" + (f"  {data['pauseMessage']}" if data.get("pauseMessage") else ""),
        }.get(event.event, lambda: data.get("checkpoint") or data.get("gate") or data.get("status") or data.get("kind") or "")()
        elapsed = time.perf_counter() - self._start
        print(f"[{elapsed:6.2f}s] {event.event:22} {title:24} {detail}", file=self._out, flush=True)
