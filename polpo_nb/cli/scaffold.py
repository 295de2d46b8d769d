"""`polpo init`: a runnable example project (function agents, a gate, a checkpoint; offline, no key)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import click

from ..project import Project
from .app import cli
from .exits import OK, UserError
from .options import say
from .workspace import is_project

EXAMPLE_FILES = ("team.py", "mission.yaml")


@cli.command(short_help="Make a project with a runnable example.")
@click.argument("directory", default=".", metavar="[DIR]")
def init(directory: str) -> int:
    """Make DIR (default: here) a polpo project with a runnable example: team.py (three function
    agents) and mission.yaml (a DAG with a quality gate and a checkpoint). Existing files are kept."""
    root = Path(directory)
    if root.exists() and not root.is_dir():
        raise UserError(f"not a directory: {directory}")
    clashes = [name for name in EXAMPLE_FILES if (root / name).exists()]
    if clashes and is_project(root):
        raise UserError(f"{directory} is already a polpo project with {', '.join(clashes)}")
    root.mkdir(parents=True, exist_ok=True)
    example = files(__package__).joinpath("example")
    written = []
    for name in EXAMPLE_FILES:
        if not (root / name).exists():
            (root / name).write_text(example.joinpath(name).read_text(encoding="utf-8"), encoding="utf-8")
            written.append(name)
    Project(root, schedules=False).close()  # creates .polpo/ (state.db, memory, output/)
    go = "" if root.resolve() == Path.cwd() else f"cd {directory} && "
    say(f"polpo project in {root.resolve()}: wrote {', '.join(written) or 'nothing (files kept)'}\n"
               f"run the example: {go}polpo run mission.yaml")
    return OK
