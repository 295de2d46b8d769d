"""`execute` of a mission not saved yet: saved, put to pending and made active in one transaction.

The stream carries what a save then an execute would (each task's `task:created`, `mission:saved`,
each task's draft -> pending, the mission's draft -> active, `mission:executed`), but no reader ever
finds the mission saved and not started. A run refused before anything is written still keeps the
mission, as a draft, as the save then the execute did.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from support import shares_keys

import polpo_nb as polpo
from polpo_nb.errors import SpecError
from polpo_nb.spec import Mission, MissionStatus, TaskStatus, parse
from polpo_nb.store.sqlite import Tx

WAIT = 30  # seconds: a hang is a failure, never a timing assertion


def _mission() -> polpo.Mission:
    return (polpo.Mission("setup")
            .task("a", assign_to="w")
            .task("b", assign_to="w", depends_on=["a"])
            .task("c", assign_to="w", depends_on=["a"]))


def _setup_events(project: polpo.Project, after: int) -> list[tuple[str, str | None, str | None, str | None]]:
    """The events up to `mission:executed`, as (name, task title, from, to)."""
    out = []
    for e in project.replay(after):
        out.append((e.event, e.data.get("title"), e.data.get("from"), e.data.get("to")))
        if e.event == "mission:executed":
            break
    return out


def test_a_mission_run_at_once_is_saved_and_started_in_one_transaction(project):
    project.agent("w")(lambda task, ctx: "done")
    seen = []

    def on_saved(event):  # on the publishing thread, right after the commit that saved the mission
        with project.aio.store.read() as tx:
            stored = tx.mission(event.data["missionId"])
        seen.append((stored.status, [t.status for t in stored.tasks]))

    project.subscribe(on_saved, "mission:saved")
    after = project.aio.event_cursor()
    record = project.execute(_mission()).wait(WAIT)
    assert record.status == MissionStatus.COMPLETED and record == project.get_mission(record.id)
    assert seen == [(MissionStatus.ACTIVE, [TaskStatus.PENDING] * 3)]
    assert _setup_events(project, after) == [
        ("task:created", "a", None, None), ("task:created", "b", None, None), ("task:created", "c", None, None),
        ("mission:saved", None, None, None),
        ("task:transition", "a", "draft", "pending"), ("task:transition", "b", "draft", "pending"),
        ("task:transition", "c", "draft", "pending"),
        ("mission:status", None, "draft", "active"), ("mission:executed", None, None, None),
    ]


def test_a_mission_run_again_from_its_definition_keeps_its_tasks(project):
    project.agent("w")(lambda task, ctx: "done")
    first = project.execute(_mission()).wait(WAIT)
    after = project.aio.event_cursor()
    again = project.execute(_mission().task("d", assign_to="w", depends_on=["c"])).wait(WAIT)
    assert again.id == first.id and again.execution_count == 2 and again == project.get_mission(first.id)
    assert [t.id for t in again.tasks[:3]] == [t.id for t in first.tasks]
    assert [t.status for t in again.tasks] == [TaskStatus.DONE] * 4
    assert [n for n, *_ in _setup_events(project, after)] == [
        "task:created", "mission:saved", *["task:transition"] * 4, "mission:status", "mission:executed"]


def test_a_run_refused_before_anything_is_written_keeps_the_mission_as_a_draft(project):
    project.agent("w")(lambda task, ctx: "done")
    with pytest.raises(polpo.ConflictError, match="no tasks to execute"):
        project.execute(polpo.Mission("empty"))
    kept = project.get_mission("empty")
    assert kept.status == MissionStatus.DRAFT and kept.execution_count == 0
    with pytest.raises(SpecError, match="unknown agent 'nobody'"):  # refused by the checks: nothing kept
        project.execute(polpo.Mission("unknown").task("a", assign_to="nobody"))
    assert [m.name for m in project.list_missions()] == ["empty"]


async def test_tasks_created_while_a_mission_is_built_come_first_in_creation_order(project_dir: Path):
    project = await polpo.AsyncProject.open(project_dir)
    try:
        project.agent("w")(lambda task, ctx: "done")
        new = project.missions.new_mission(parse(Mission, _mission().to_wire()))
        alone = await project.create_task(polpo.Task(title="alone", assign_to="w"))
        saved = await project.journal.write(new.write)
        assert [t.seq for t in saved.tasks] == [alone.seq + 1, alone.seq + 2, alone.seq + 3]
        assert saved == await project.get_mission(saved.id)
    finally:
        await project.close()


def test_a_task_executed_again_starts_afresh_its_previous_attempt_kept(project):
    calls = []

    def flaky(task, ctx):
        calls.append(task.title)
        if len(calls) <= 2:
            raise RuntimeError("not yet")
        return "done"
    project.agent("w")(flaky)
    failed = project.execute(polpo.Mission("again").task("a", assign_to="w", max_retries=1)).wait(WAIT)
    before = failed.tasks[0]
    assert failed.status == MissionStatus.FAILED and before.retries == 1 and "not yet" in before.result.error
    started = []

    def on_executed(event):  # right after the commit that started the run, before any attempt
        with project.aio.store.read() as tx:
            started.append(tx.task(before.id))
    project.subscribe(on_executed, "mission:executed")
    again = project.execute("again").wait(WAIT)
    [fresh] = started
    assert (fresh.status, fresh.retries, fresh.result, fresh.assessment, fresh.feedback, fresh.phase) == (
        TaskStatus.PENDING, 0, None, None, None, None)
    assert again.status == MissionStatus.COMPLETED and len(project.attempts(before.id)) == 3


def test_a_mission_run_again_by_its_name_is_found_without_reading_every_mission(project, monkeypatch):
    project.agent("w")(lambda task, ctx: "done")
    others = [project.save_mission(polpo.Mission(f"other{i}").task("x", assign_to="w")) for i in range(3)]
    first = project.execute(_mission()).wait(WAIT)
    read_all = []
    real, here = Tx.missions, threading.get_ident()  # (the engine thread's schedule watch reads them all)

    def missions(self, **kw):
        if threading.get_ident() == here:
            read_all.append(kw)
        return real(self, **kw)
    monkeypatch.setattr(Tx, "missions", missions)
    found = project.aio.missions.named("setup")  # what execute looks its definition's name up with
    assert found is not None and (found.id, found.task_count) == (first.id, 3)
    assert project.aio.missions.named("nothing") is None
    assert read_all == []  # the name's index, not a scan of the project's missions
    monkeypatch.setattr(Tx, "missions", real)
    again = project.execute(_mission()).wait(WAIT)
    assert again.id == first.id and again.execution_count == 2
    assert [project.get_mission(o.id).status for o in others] == [MissionStatus.DRAFT] * 3


def test_a_mission_named_like_another_missions_id_is_told_apart_from_it(project):
    project.agent("w")(lambda task, ctx: "done")
    other = project.save_mission(polpo.Mission("other").task("x", assign_to="w"))
    twin = polpo.Mission(other.id).task("a", assign_to="w")  # its name is the other mission's id
    first = project.execute(twin).wait(WAIT)
    assert first.id != other.id and first.name == other.id and first.status == MissionStatus.COMPLETED
    again = project.execute(polpo.Mission(other.id).task("a", assign_to="w")).wait(WAIT)
    assert again.id == first.id and again.execution_count == 2
    kept = project.get_mission(other.id)
    assert (kept.name, kept.status, kept.execution_count) == ("other", MissionStatus.DRAFT, 0)


def test_tasks_made_pending_at_once_are_stored_as_a_save_then_an_execute_stores_them(project):
    project.agent("w")(lambda task, ctx: "done")
    started: dict[str, list] = {}

    def on_executed(event):  # right after the commit that started the run, before any attempt
        with project.aio.store.read() as tx:
            started[event.data["name"]] = tx.tasks(mission_id=event.data["missionId"])
    project.subscribe(on_executed, "mission:executed")
    after = project.aio.event_cursor()
    project.execute(_mission()).wait(WAIT)  # saved and run at once: no draft built
    project.save_mission(_mission().model_copy(update={"name": "saved first"}))
    project.execute("saved first").wait(WAIT)  # the draft stored, then moved to pending
    own = {"id", "mission_id", "group", "seq", "created_at", "updated_at"}
    at_once, then = ([t.model_dump(exclude=own) for t in started[name]] for name in ("setup", "saved first"))
    assert at_once == then and {t["status"] for t in at_once} == {TaskStatus.PENDING}
    moved = {e.data["title"]: e.data["timestamp"] for e in project.replay(after, "task:transition")
             if e.data["to"] == "pending" and e.data["missionId"] == started["setup"][0].mission_id}
    mission = project.get_mission("setup")
    for task in started["setup"]:
        assert (task.created_at, task.updated_at) == (mission.created_at, moved[task.title])


async def test_a_mission_save_run_again_in_its_batch_stores_what_it_would_alone(project_dir: Path):
    """A write that fails makes the journal run its batch again, each write in a savepoint: the save of a
    new mission then runs twice. The first run lets go of the parsed tasks (their records stand in for
    them); the second must store the same tasks."""
    project = await polpo.AsyncProject.open(project_dir)
    try:
        project.agent("w")(lambda task, ctx: "done")
        spec = parse(Mission, _mission().to_wire())
        expected = [t.model_dump() for t in spec.tasks]
        new = project.missions.new_mission(spec)

        def bad(tx: Tx, emit) -> None:
            tx.put_kv("bad", 1)
            raise ValueError("this write is refused")

        saved, refused = await asyncio.gather(project.journal.write(new.write), project.journal.write(bad),
                                              return_exceptions=True)
        assert isinstance(refused, ValueError) and not isinstance(saved, BaseException)
        stored = (await project.get_mission(saved.id)).tasks
    finally:
        await project.close()
    assert [t.id for t in stored] == [t.id for t in saved.tasks] == new.ids
    assert [t.status for t in stored] == [TaskStatus.DRAFT] * 3
    assert [t.spec.model_dump() for t in stored] == expected
    assert [t.seq for t in stored] == list(range(stored[0].seq, stored[0].seq + 3))


def test_a_mission_saved_again_with_new_tasks_numbers_them_in_one_look(project, monkeypatch):
    """Saving a mission again (re-running its notebook cell with more tasks) adds each new task at the
    next seq, in the order given, and removes the dropped ones: the next seq is looked up once, and the
    buffered rows are written once, not once per task (each a statement and a flush: 2.5x the time of a
    first save at 10,000 tasks)."""
    project.agent("w")(lambda task, ctx: "done")
    first = project.save_mission(polpo.Mission("grow").task("a", assign_to="w").task("gone", assign_to="w"))
    alone = project.create_task(polpo.Task(title="alone", assign_to="w"))
    looks, flushes = [], []
    real_seq, real_flush = Tx.next_seq, Tx.flush
    monkeypatch.setattr(Tx, "next_seq", lambda tx: looks.append(1) or real_seq(tx))
    monkeypatch.setattr(Tx, "flush", lambda tx: flushes.append(1) or real_flush(tx))
    grown = polpo.Mission("grow").task("a", assign_to="w")
    for i in range(40):
        grown.task(f"n{i}", assign_to="w", depends_on=["a"])
    saved = project.update_mission(first.id, grown.to_wire())
    assert len(looks) == 1 and len(flushes) < 10  # a few per transaction, whatever the number of tasks
    assert [t.title for t in saved.tasks] == ["a", *[f"n{i}" for i in range(40)]]
    assert saved.tasks[0].id == first.tasks[0].id
    assert [t.seq for t in saved.tasks[1:]] == list(range(alone.seq + 1, alone.seq + 41))
    assert saved == project.get_mission(saved.id)


def test_a_mission_edit_returns_what_it_stored_without_reading_it_back(project):
    """Renamed, one task changed, one dropped, one added: the record the edit returns (built from what it
    wrote, no read of every task back) is the one a read finds, task order (by seq) included."""
    project.agent("w")(lambda task, ctx: "done")
    first = project.save_mission(polpo.Mission("edit").task("a", assign_to="w").task("b", assign_to="w")
                                 .task("c", assign_to="w", depends_on=["a"]))
    edited = polpo.Mission("edited").task("new", assign_to="w").task("c", assign_to="w", priority=3,
                                                                       depends_on=["a"]).task("a", assign_to="w")
    saved = project.update_mission(first.id, edited.to_wire())
    assert [t.title for t in saved.tasks] == ["a", "c", "new"] and saved.task_count == 3
    assert {t.group for t in saved.tasks} == {"edited"} and saved.tasks[1].priority == 3
    assert saved == project.get_mission(first.id)


def test_a_mission_edit_made_while_another_writes_its_tasks_returns_what_is_stored(project, monkeypatch):
    """A task of the mission written by someone else between the edit's read and its write: the edit
    returns the task as stored (read back), not as it was when the edit read it."""
    project.agent("w")(lambda task, ctx: "done")
    first = project.save_mission(polpo.Mission("racing").task("a", assign_to="w").task("b", assign_to="w"))
    editor = project.aio.missions
    real_check = editor.agents.check

    def check_then_someone_writes(*args, **kwargs):
        real_check(*args, **kwargs)
        with project.aio.store.write() as tx:  # another writer, after the edit read the mission
            tx.put_task(first.tasks[1].evolve(description="written meanwhile"))
    monkeypatch.setattr(editor.agents, "check", check_then_someone_writes)
    saved = project.update_mission(first.id, polpo.Mission("racing").task("a", assign_to="w")
                                   .task("b", assign_to="w").task("c", assign_to="w").to_wire())
    assert [t.title for t in saved.tasks] == ["a", "b", "c"] and saved.tasks[1].description == "written meanwhile"
    assert saved == project.get_mission(first.id)


def _share_keys(record: polpo.MissionRecord) -> list[bool]:
    """Whether each task record of a run's final record holds a key-sharing dict."""
    return [shares_keys(t) for t in record.tasks]


def test_a_runs_records_share_one_key_table_however_it_got_them(project_dir: Path):
    """A run holds a record per task for its life (its final record is made of them): small, key-sharing
    records whether the run built them (a new mission), read them back (the same definition run again,
    a re-run from a task) or took them over from the store (a resume in another process)."""
    def opened() -> polpo.Project:
        project = polpo.Project(project_dir)
        project.agent("w")(lambda task, ctx: "ok")
        return project

    mission = (polpo.Mission("keys").task("draft", assign_to="w").task("publish", assign_to="w", depends_on=["draft"])
               .checkpoint("review", after=["draft"], message="Read the draft first"))
    project = opened()
    try:
        assert project.execute(mission).wait(WAIT).status == MissionStatus.PAUSED  # (read from the store)
        built = project.execute(polpo.Mission("built").task("a", assign_to="w")).wait(WAIT)
        assert built.status == MissionStatus.COMPLETED and _share_keys(built) == [True]
    finally:
        project.close()
    project = opened()  # the paused run is no process's now: resuming it reads its tasks from the store
    try:
        resumed = project.resume("keys").wait(WAIT)
        assert resumed.status == MissionStatus.COMPLETED and _share_keys(resumed) == [True, True]
        again = project.execute(mission)  # the definition run again: its tasks are the stored ones
        assert again.wait(WAIT).status == MissionStatus.PAUSED
        assert _share_keys(project.resume("keys").wait(WAIT)) == [True, True]
        rerun = project.rerun("keys", from_task="publish").wait(WAIT)
        assert rerun.status == MissionStatus.COMPLETED and _share_keys(rerun) == [True, True]
    finally:
        project.close()
