"""Shared fixtures: a fresh project per test, with its engine thread closed afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lab_pages import lab  # noqa: F401 - a fixture: a JupyterLab of its own, for the browser tests
from support import CHROMIUM, CHROMIUM_ARGS, EventLog

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


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per test module (Playwright, Debian's build)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
