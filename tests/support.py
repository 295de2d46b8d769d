"""Helpers shared by the test modules (imported as `support`; conftest.py holds only fixtures)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import polpo_nb as polpo
from polpo_nb.store.schema import MIGRATIONS, statements

WAIT = 30  # seconds: a hang is a failure, never a timing assertion
#: Debian's Chromium (installed by `make test-deps`), driven by Playwright, which never downloads a browser.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def shares_keys(model: object) -> bool:
    """Whether a model's `__dict__` shares its key table (a CPython split dict, `spec._base._key_sharing_dict`):
    under half the size of a plain copy of it, which has a table of its own (~300 against ~830 bytes)."""
    values = model.__dict__
    return sys.getsizeof(values) < sys.getsizeof(dict(values)) / 2


def wait_for(predicate: Callable[[], object], timeout: float = WAIT) -> None:
    """Poll until `predicate()` is true; fail (never time) when it does not come."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError("condition not reached")


def kill_when(child: subprocess.Popen, ready: Callable[[], object], what: str = "the kill point", *,
              timeout: float = WAIT) -> None:
    """SIGKILL `child` once `ready()` is true (a crash at a chosen point), and check it died of it. The
    child must still run then: one that ended first never reached `what`. It never outlives the call."""
    try:
        wait_for(lambda: ready() or child.poll() is not None, timeout)
        assert child.poll() is None, f"the child ended before {what}"
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(WAIT) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()


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


def old_database(path: Path, version: int) -> sqlite3.Connection:
    """A state.db at schema `version` (the first `version` migrations), for the tests of a migration:
    an open connection, autocommit, to fill with the rows of that time."""
    conn = sqlite3.connect(path, isolation_level=None)
    for n, script in enumerate(MIGRATIONS[:version]):
        for stmt in statements(script):
            conn.execute(stmt)
        conn.execute(f"PRAGMA user_version = {n + 1}")
    return conn
