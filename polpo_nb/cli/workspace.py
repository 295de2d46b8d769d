"""Which project a command works on, and what the user's names (mission, task) refer to.

Commands that only read (or act on what exists) open a project that must already exist: they never
create `.polpo/` in a directory that is not a project. A TASK is an id or a title; a title that names
several tasks is refused with the candidates listed, so nothing is done to the wrong one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from ..errors import NotFoundError
from ..project import Project
from ..project.config import POLPO_DIR
from ..spec import MissionRecord, TaskRecord
from .exits import BAD_INPUT, UserError


def is_project(root: Path) -> bool:
    return (root / POLPO_DIR / "state.db").is_file()


@contextlib.contextmanager
def opened(directory: str, *, create: bool = False) -> Iterator[Project]:
    """The project in `directory`; unless `create`, a directory without one is the user's mistake."""
    root = Path(directory).expanduser()
    if not root.is_dir():
        raise UserError(f"no such directory: {directory}")
    if not create and not is_project(root):
        raise UserError(f"not a polpo project: {directory} (no {POLPO_DIR}/ here; `polpo init` makes one)")
    project = Project(root, schedules=False)  # a command never starts a scheduled mission it would abandon
    try:
        yield project
    finally:
        project.close()


def find_mission(project: Project, ref: str) -> MissionRecord:
    try:
        return project.get_mission(ref)
    except NotFoundError:
        names = ", ".join(sorted(m.name for m in project.list_missions())) or "none yet"
        raise UserError(f"no mission named {ref!r} (missions: {names})") from None


def find_task(project: Project, ref: str, *, prefer: str | None = None) -> TaskRecord:
    """The task with id `ref`, else the one task titled `ref` (among several, the one in status
    `prefer` if exactly one is: approving "Publish" means the Publish that awaits approval)."""
    try:
        return project.get_task(ref)
    except NotFoundError:
        pass
    matches = [t for t in project.list_tasks() if t.title == ref]
    if len(matches) > 1 and prefer:
        preferred = [t for t in matches if t.status.value == prefer]
        matches = preferred if len(preferred) == 1 else matches
    if not matches:
        raise UserError(f"no task with id or title {ref!r}")
    if len(matches) > 1:
        missions = {m.id: m.name for m in project.list_missions()}
        listed = "; ".join(f"{t.id} ({missions.get(t.mission_id or '', 'standalone')}, {t.status.value})"
                           for t in matches)
        raise UserError(f"{len(matches)} tasks are titled {ref!r}; give an id: {listed}", BAD_INPUT)
    return matches[0]
