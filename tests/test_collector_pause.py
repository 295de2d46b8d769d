"""A mission's records are built with Python's cyclic collector paused (`polpo_nb/collector.py`): at
100,000 tasks the collections its save started cost a third of the save. The collector is left as it
was found: on, after a save and after a refused one; off, when the caller had turned it off."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from support import WAIT

import polpo_nb as polpo
from polpo_nb.collector import collector_paused
from polpo_nb.spec import MissionStatus


def _mission(name: str, tasks: int, agent: str = "w") -> polpo.Mission:
    m = polpo.Mission(name)
    for i in range(tasks):
        m.task(f"t{i}", assign_to=agent, depends_on=[f"t{i - 1}"] if i % 10 else [])
    return m


@contextmanager
def collections() -> Iterator[list[int]]:
    """The generations of the automatic collections started inside (the counts reset first)."""
    seen: list[int] = []

    def started(phase: str, info: dict) -> None:
        if phase == "start":
            seen.append(info["generation"])
    gc.collect()
    gc.callbacks.append(started)
    try:
        yield seen
    finally:
        gc.callbacks.remove(started)


def test_no_collection_runs_while_a_missions_records_are_built(project: polpo.Project):
    gate = threading.Event()

    @project.agent("w")
    def w(task, ctx):
        gate.wait(WAIT)  # nothing runs past the save until the test has looked
        return "ok"

    mission = _mission("big", 3000)
    with collections() as seen:
        handle = project.execute(mission)
        assert gc.isenabled()
    gate.set()
    # at most the one young collection that takes the records in once the pause ends; without it, ~35
    # (and, past ~20,000 tasks, full ones, each scanning every record built so far)
    assert len(seen) <= 1, seen
    assert handle.wait(WAIT).status == MissionStatus.COMPLETED

    mission = _mission("saved", 3000)
    with collections() as seen:
        project.save_mission(mission)
    assert len(seen) <= 1 and gc.isenabled(), seen


def test_the_collector_is_as_it_was_after_a_refused_save_and_when_the_caller_turned_it_off(project: polpo.Project):
    with pytest.raises(polpo.SpecError, match="unknown agent"):
        project.execute(_mission("refused", 10, agent="nobody"))
    assert gc.isenabled()

    project.agent("w")(lambda task, ctx: "ok")
    gc.disable()
    try:
        assert project.execute(_mission("off", 10)).wait(WAIT).status == MissionStatus.COMPLETED
        assert not gc.isenabled()  # the caller's choice stands
    finally:
        gc.enable()


def test_pauses_at_once_on_several_threads_end_with_the_last():
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner pause ended, the outer one goes on
    assert gc.isenabled()


def test_no_collection_runs_while_a_missions_records_are_read_back(project: polpo.Project):
    """A re-run reads every record of its mission (once: the mission's id is found without its tasks),
    as a resume does, and a list of its tasks reads them all too."""
    project.agent("w")(lambda task, ctx: "ok")
    record = project.execute(_mission("again", 3000)).wait(WAIT)
    assert record.status == MissionStatus.COMPLETED

    with collections() as seen:
        handle = project.rerun_mission("again", from_task="t2999")
    assert len(seen) <= 1, seen  # without the pause, ~100
    assert handle.wait(WAIT).status == MissionStatus.COMPLETED

    with collections() as seen:
        tasks = project.list_tasks(mission_id=record.id)
    assert len(tasks) == 3000 and len(seen) <= 1, seen
