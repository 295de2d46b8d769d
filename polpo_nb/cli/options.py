"""Options shared by the commands, and printing what they list (a table, or JSON with `--json`)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from typing import IO, Any, TypeVar, cast

import click

from .printable import printable
from .table import render_table
from .view import stdout

F = TypeVar("F", bound=Callable[..., Any])

project_option = click.option(
    "--project", "project_dir", default=".", show_default=True, metavar="DIR",
    help="The project directory (the one holding .polpo/).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
plain_option = click.option("--plain", is_flag=True, help="Plain progress lines even on a terminal.")


def say(text: str, *, bold: bool = False) -> None:
    """A line on stdout, through the SafeStream (a reader that has gone is not an error), its terminal
    controls shown as escapes (`printable`: it may hold what tasks and agents wrote)."""
    text = printable(text)
    click.echo(click.style(text, bold=True) if bold else text, file=cast(IO[str], stdout()))


def print_json(value: Any) -> None:
    """One JSON document on stdout (models in their wire form: camelCase, as the HTTP API serves them)."""
    say(json.dumps(wire(value), indent=2, ensure_ascii=False))


def wire(value: Any) -> Any:
    if isinstance(value, list):
        return [wire(v) for v in value]
    if hasattr(value, "to_wire"):
        return value.to_wire()
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    return value


def print_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], *, empty: str) -> None:
    """Rows under their column names (`table.py`): as wide as the terminal, or 200 cells into a pipe or
    a file; the header bold on a terminal."""
    out = stdout()
    if not rows:
        say(empty)
        return
    width = shutil.get_terminal_size().columns if out.isatty() else 200
    cells = [["" if cell is None else printable(str(cell)) for cell in row] for row in rows]  # escapes widen them
    header, *lines = render_table(columns, cells, width=width)
    say(header, bold=out.isatty())
    say("\n".join(lines))
