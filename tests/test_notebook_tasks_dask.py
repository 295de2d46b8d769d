"""Notebook tasks on the Dask executor (issue 17): `maxDuration` and kill reach the kernel on the worker.

The kernel is a child of the worker process, which is a child of this one (a LocalCluster of processes), so
`kernels()` counts it. The engine gives the attempt up at once; the worker sees the attempt released within
a poll, interrupts its kernel (the executed copy shows the interrupted cell), shuts it down and saves the copy.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from notebook_files import kernels, write_notebook
from support import wait_for
from test_dask_executor import WAIT, client, cluster, project  # noqa: F401 - the module's cluster and project

import polpo_nb as polpo
from polpo_nb.spec import TaskStatus

pytestmark = pytest.mark.timeout(120)


def _interrupted_copy(project_dir: Path, task_id: str) -> bool:
    """The executed copy is saved and its sleeping cell ends with the interrupt (not a bare shutdown)."""
    path = project_dir / f".polpo/outputs/{task_id}-1.ipynb"
    if not path.exists():
        return False
    outputs = nbformat.read(path, as_version=4).cells[2].get("outputs", [])
    return bool(outputs) and outputs[-1].get("ename") == "KeyboardInterrupt"


@pytest.mark.parametrize("stop", ["maxDuration", "kill"])
def test_a_stopped_notebook_task_on_dask_interrupts_and_ends_its_kernel_on_the_worker(project, project_dir, stop):  # noqa: F811
    write_notebook(project_dir / "slow.ipynb", "import time", "open('sleeping', 'w').close()\ntime.sleep(600)")
    handle = project.execute(polpo.Mission("slow").task(
        "Slow", notebook="slow.ipynb", max_retries=0, **({"max_duration": 15_000} if stop == "maxDuration" else {})))
    wait_for((project_dir / "sleeping").exists, WAIT)  # cell 2 runs: an interrupt now lands in it
    assert len(kernels()) == 1  # the kernel sleeping in cell 2, on a worker
    task_id = project.get_mission(handle.mission_id).tasks[0].id  # (its outputs may still be on their way back)
    if stop == "kill":
        project.kill_task(task_id)
    task = handle.wait(WAIT).tasks[0]

    assert (task.status, task.retries) == (TaskStatus.FAILED, 0)  # a stop, not a crash to retry
    expected = {"maxDuration": "timed out after 15000 ms (maxDuration)", "kill": "killed"}[stop]
    assert task.result.error.strip() == expected
    wait_for(lambda: not kernels(), WAIT)
    wait_for(lambda: _interrupted_copy(project_dir, task_id), WAIT)
