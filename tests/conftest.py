"""Shared fixtures: a fresh project per test, with its engine thread closed afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support import EventLog

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


@pytest.fixture
def events(project: polpo.Project) -> EventLog:
    return EventLog(project)
