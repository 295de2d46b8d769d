"""Every demo notebook runs top to bottom under `pytest --nbval-lax` (cells marked NBVAL_CHECK_OUTPUT must
also reproduce their stored output). Each runs in a copy under a temporary directory, with TMPDIR there
too, so nothing lands in the repository, and whatever a user left in notebooks/ by running the demos
(`.polpo/`, outputs, new notebooks) changes nothing here. Provider keys are removed from the kernel's
environment: llm_agents.ipynb then runs on its scripted models, offline and deterministic (and
http_api.ipynb, with no Jupyter server hosting its kernel, starts its own `polpo serve`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
#: The demos the README promises (a listing of notebooks/ would also pick up a user's Untitled.ipynb).
DEMOS = ("quickstart.ipynb", "llm_agents.ipynb", "http_api.ipynb", "notebook_tasks.ipynb")


@pytest.mark.parametrize("name", DEMOS)
def test_notebook_runs_top_to_bottom(name: str, tmp_path: Path) -> None:
    had_state = (NOTEBOOKS / ".polpo").exists()
    shutil.copy(NOTEBOOKS / name, tmp_path / name)
    # POLPO_UNATTENDED: nobody is there to press the widget's buttons, so the quickstart resumes from code
    env = {**{k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}, "TMPDIR": str(tmp_path),
           "POLPO_UNATTENDED": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-cell-timeout=120", "-p", "no:cacheprovider",
         "-o", "addopts=", "-q", name],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert "passed" in proc.stdout
    # the run's state stays in the copy: a notebooks/.polpo/ appears only if the user's own runs made it
    assert (NOTEBOOKS / ".polpo").exists() == had_state, "the notebook's run wrote notebooks/.polpo/"


def test_the_demo_notebooks_are_there() -> None:
    assert {p.name for p in NOTEBOOKS.glob("*.ipynb")} >= set(DEMOS)
