"""Helpers shared by the test modules (imported as `support`; conftest.py holds only fixtures)."""

from __future__ import annotations

import time
from collections.abc import Callable

import polpo_nb as polpo

WAIT = 30  # seconds: a hang is a failure, never a timing assertion
#: Debian's Chromium (installed by `make test-deps`), driven by Playwright, which never downloads a browser.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def wait_for(predicate: Callable[[], object], timeout: float = WAIT) -> None:
    """Poll until `predicate()` is true; fail (never time) when it does not come."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError("condition not reached")


class EventLog:
    """Every event a project publishes, in order."""

    def __init__(self, project: polpo.Project) -> None:
        self.events: list = []
        self.sub = project.subscribe(self.events.append)

    def names(self, prefix: str = "") -> list[str]:
        return [e.event for e in self.events if e.event.startswith(prefix)]

    def of(self, name: str) -> list[dict]:
        return [e.data for e in self.events if e.event == name]

    def transitions(self, task_id: str) -> list[tuple[str, str]]:
        return [(d["from"], d["to"]) for d in self.of("task:transition") if d["taskId"] == task_id]
