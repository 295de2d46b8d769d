"""The project's public reads run on a connection and a thread of their own (`store/reader.py`): a long
read (a list of tens of thousands of tasks takes a good part of a second to parse) never holds the
engine's loop, so runs go on while clients read, and what a read returns is what was committed."""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from support import WAIT

import polpo_nb as polpo
from polpo_nb.errors import ProjectClosedError
from polpo_nb.store.sqlite import Tx

#: A filter value only these tests use: a list asked with it is held until the test lets it go.
HELD = "held-read"


def _hold_reads(monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, threading.Event, list[str]]:
    """Hold every task list filtered on `HELD` until `release` is set; `entered` once one is held; the
    names of the threads that ran them."""
    entered, release = threading.Event(), threading.Event()
    threads: list[str] = []
    real = Tx.tasks

    def tasks(self: Tx, **filters: Any) -> list[polpo.TaskRecord]:
        if filters.get("assign_to") == HELD:
            threads.append(threading.current_thread().name)
            entered.set()
            release.wait(4 * WAIT)
        return real(self, **filters)

    monkeypatch.setattr(Tx, "tasks", tasks)
    return entered, release, threads


def test_a_mission_runs_to_its_end_while_a_read_is_in_progress(project: polpo.Project,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    entered, release, threads = _hold_reads(monkeypatch)
    project.agent("w")(lambda task, ctx: "ran")
    mission = polpo.Mission("m").task("a", assign_to="w").task("b", assign_to="w", depends_on=["a"])
    with ThreadPoolExecutor(2) as pool:
        listing = pool.submit(project.list_tasks, assign_to=HELD)
        try:
            assert entered.wait(WAIT)
            # the run has the engine to itself although the read has not ended
            running = pool.submit(lambda: project.execute(mission).wait())
            record = running.result(WAIT)
        finally:
            release.set()
        assert listing.result(WAIT) == []
    assert record.status.value == "completed"
    assert [t.status.value for t in record.tasks] == ["done", "done"]
    assert threads and all(name.startswith("polpo-reader") for name in threads)  # not the engine's thread


def test_a_read_sees_every_write_committed_before_it(project: polpo.Project) -> None:
    project.agent("w")(lambda task, ctx: "ran")
    created = project.create_task(polpo.Task(title="t", assign_to="w"))
    assert project.get_task(created.id) == created
    record = project.execute_task(created.id).wait(timeout=WAIT)
    assert project.get_task(created.id) == record
    assert project.get_task(created.id).status.value == "done"
    assert [t.id for t in project.list_tasks(status="done")] == [created.id]


async def test_the_read_connection_never_writes(tmp_path: Any) -> None:
    project = await polpo.AsyncProject.open(tmp_path)
    try:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            await project.reads(lambda tx: tx.put_kv("team.name", "written by a read"))
        assert (await project.get_team()).name == "default"
    finally:
        await project.close()


async def test_a_read_of_a_closed_project_says_it_is_closed(tmp_path: Any) -> None:
    project = await polpo.AsyncProject.open(tmp_path)
    await project.close()
    with pytest.raises(ProjectClosedError):
        await project.reads(lambda tx: tx.tasks())
