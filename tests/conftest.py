"""Shared fixtures: a fresh project per test, with its engine thread closed afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import polpo_nb as polpo


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    path = tmp_path / "proj"
    path.mkdir()
    return path


@pytest.fixture
def project(project_dir: Path) -> Iterator[polpo.Project]:
    proj = polpo.Project(project_dir)
    yield proj
    proj.close()


class EventLog:
    """Collects every event a project publishes, in order."""

    def __init__(self, project: polpo.Project) -> None:
        self.events: list = []
        self.sub = project.subscribe(self.events.append)

    def names(self, prefix: str = "") -> list[str]:
        return [e.event for e in self.events if e.event.startswith(prefix)]

    def of(self, name: str) -> list[dict]:
        return [e.data for e in self.events if e.event == name]

    def transitions(self, task_id: str) -> list[tuple[str, str]]:
        return [(d["from"], d["to"]) for d in self.of("task:transition") if d["taskId"] == task_id]


@pytest.fixture
def events(project: polpo.Project) -> EventLog:
    return EventLog(project)
