"""Helpers of the notebook-task tests (tests/test_notebook_tasks.py, tests/server/test_server_notebook_tasks.py):
writing a notebook, and counting the kernels still alive."""

from __future__ import annotations

from pathlib import Path

import nbformat
import psutil


def write_notebook(path: Path, *cells: str | tuple[str, str]) -> str:
    """A notebook of code cells; `("parameters", source)` is a cell tagged `parameters`. Returns its name."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for cell in cells:
        tag, source = cell if isinstance(cell, tuple) else (None, cell)
        nb.cells.append(nbformat.v4.new_code_cell(source, metadata={"tags": [tag]} if tag else {}))
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path.name


def kernels() -> list[psutil.Process]:
    """The ipykernel processes below this test process (its own, or a `polpo serve` child's), zombies aside."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "ipykernel" in " ".join(child.cmdline()) and child.status() != psutil.STATUS_ZOMBIE:
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found
