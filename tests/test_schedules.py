"""Cron and one-shot schedules: nextRunAt, firing once, missed occurrences reported, not replayed."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from datetime import UTC, datetime, timedelta

import pytest

import polpo_nb as polpo
from polpo_nb.engine.schedules import GRACE_SECONDS, Scheduler, next_run, parse_iso
from polpo_nb.spec import MissionStatus

WAIT = 30
MONTHLY = "0 0 1 * *"  # far from the real clock: the background scheduler never fires it during a test


def tick(project: polpo.Project, now: datetime) -> list[str]:
    return project._thread.call(project.aio.scheduler.tick_once(now))


def _scheduled(project: polpo.Project, schedule: str, **extra) -> polpo.MissionRecord:
    project.agent("w")(lambda task, ctx: "ran")
    return project.save_mission(polpo.Mission("report", schedule=schedule, **extra).task("a", assign_to="w"))


def test_saving_a_cron_schedule_sets_next_run_and_status(project):
    mission = _scheduled(project, MONTHLY)
    assert mission.status == MissionStatus.SCHEDULED
    nxt = parse_iso(mission.next_run_at)
    assert nxt > datetime.now(UTC) and nxt.day == 1 and nxt.hour == 0 and nxt.minute == 0
    assert project.list_missions()[0].to_wire()["nextRunAt"] == mission.next_run_at


def test_due_occurrence_fires_once_and_advances(project, events):
    mission = _scheduled(project, MONTHLY)
    due = parse_iso(mission.next_run_at) + timedelta(seconds=1)
    assert tick(project, due) == [mission.id]
    assert tick(project, due) == []  # the same occurrence never fires twice
    record = polpo.RunHandle(project.aio, mission.id, mission_id=mission.id).wait(WAIT)
    assert record.status == MissionStatus.COMPLETED and record.execution_count == 1
    [triggered] = events.of("schedule:triggered")
    assert triggered["occurrence"] == mission.next_run_at and triggered["executionCount"] == 1
    assert parse_iso(record.next_run_at) > parse_iso(mission.next_run_at)
    assert [h.outcome for h in project.schedule_history(mission.id)] == ["fired"]


def test_missed_occurrences_are_reported_not_replayed(project, events):
    mission = _scheduled(project, MONTHLY)
    first = parse_iso(mission.next_run_at)
    later = first + timedelta(days=95)  # about three monthly occurrences went by with no engine running
    assert tick(project, later) == []
    [missed] = events.of("schedule:missed")
    assert missed["count"] == 4 and missed["occurrences"][0] == mission.next_run_at
    assert project.get_mission(mission.id).execution_count == 0
    assert parse_iso(project.get_mission(mission.id).next_run_at) > later


def test_occurrence_within_grace_still_fires(project):
    mission = _scheduled(project, MONTHLY)
    late = parse_iso(mission.next_run_at) + timedelta(seconds=GRACE_SECONDS - 5)
    assert tick(project, late) == [mission.id]


def test_one_shot_iso_schedule_fires_once_then_is_over(project, events):
    when = datetime.now(UTC) + timedelta(days=3)
    mission = _scheduled(project, when.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert tick(project, when + timedelta(seconds=1)) == [mission.id]
    polpo.RunHandle(project.aio, mission.id, mission_id=mission.id).wait(WAIT)
    assert project.get_mission(mission.id).next_run_at is None
    assert tick(project, when + timedelta(days=30)) == []
    assert len(events.of("schedule:triggered")) == 1


def test_end_date_stops_a_recurring_schedule(project):
    now = datetime.now(UTC)
    mission = _scheduled(project, MONTHLY, end_date=now + timedelta(days=40))
    first = parse_iso(mission.next_run_at)
    assert tick(project, first + timedelta(seconds=1)) == [mission.id]
    polpo.RunHandle(project.aio, mission.id, mission_id=mission.id).wait(WAIT)
    nxt = project.get_mission(mission.id).next_run_at
    assert nxt is None or parse_iso(nxt) <= now + timedelta(days=40)


def test_occurrence_while_previous_run_is_active_is_reported_missed(project, events):
    gate = threading.Event()
    project.agent("w")(lambda task, ctx: gate.wait(WAIT) and "ok")
    mission = project.save_mission(polpo.Mission("busy", schedule=MONTHLY).task("a", assign_to="w"))
    run = project.execute("busy")
    assert tick(project, parse_iso(mission.next_run_at) + timedelta(seconds=1)) == []
    assert "still active" in events.of("schedule:missed")[0]["reason"]
    gate.set()
    run.wait(WAIT)


def test_two_engines_on_one_store_fire_an_occurrence_exactly_once(project_dir):
    first, second = polpo.Project(project_dir), polpo.Project(project_dir)
    try:
        for p in (first, second):
            p.agent("w")(lambda task, ctx: "ran")
        mission = first.save_mission(polpo.Mission("shared", schedule=MONTHLY).task("a", assign_to="w"))
        due = parse_iso(mission.next_run_at) + timedelta(seconds=1)
        results: list[list[str]] = []
        threads = [threading.Thread(target=lambda p=p: results.append(tick(p, due))) for p in (first, second)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(WAIT)
        assert sorted(len(r) for r in results) == [0, 1]
        history = first.schedule_history(mission.id)
        assert [h.outcome for h in history] == ["fired"]
    finally:
        first.close()
        second.close()


def test_invalid_schedule_is_refused_at_save(project):
    project.agent("w")(lambda task, ctx: "ran")
    with pytest.raises(polpo.SpecError) as info:
        project.save_mission({"name": "m", "schedule": "whenever", "tasks": [{"title": "a", "assignTo": "w"}]})
    assert info.value.errors[0]["loc"] == ["schedule"]
    assert project.list_missions() == []


@pytest.mark.parametrize(("schedule", "message"), [
    # a date no calendar has: croniter takes it, then raised CroniterBadDateError at the save (a 500 over HTTP)
    ("0 0 30 2 *", "never occurs"),
    # six fields: croniter reads the sixth as seconds, node-cron (upstream Polpo) the first, so "09:00 on
    # Mondays" in node-cron's spelling was saved as "the 9th of every month, at 00:00:01"
    ("0 0 9 * * 1", "has 6 fields: a cron expression here has 5"),
    ("0 0 9 * * 1 2030", "has 7 fields"),
])
def test_a_cron_that_never_occurs_or_has_more_than_five_fields_is_refused_at_save(project, schedule: str,
                                                                                 message: str):
    project.agent("w")(lambda task, ctx: "ran")
    with pytest.raises(polpo.SpecError) as info:
        project.save_mission({"name": "m", "schedule": schedule, "tasks": [{"title": "a", "assignTo": "w"}]})
    assert info.value.errors[0]["loc"] == ["schedule"] and message in info.value.errors[0]["msg"]
    assert project.list_missions() == []


@pytest.mark.parametrize("schedule", ["@daily", "*/15 9-17 * * 1-5", "0 0 29 2 *"])
def test_five_field_crons_and_their_nicknames_are_kept(project, schedule: str):
    assert _scheduled(project, schedule).status == MissionStatus.SCHEDULED


def test_a_look_at_the_schedules_reads_only_the_scheduled_missions(project, monkeypatch):
    """The scheduler looks on every mission event: it must not parse every mission of the project's
    history and count each one's tasks, only read the missions that have a next occurrence."""
    from polpo_nb.store.sqlite import Tx

    project.agent("w")(lambda task, ctx: "ran")
    for i in range(3):
        project.save_mission(polpo.Mission(f"plain {i}").task("a", assign_to="w"))
    mission = _scheduled(project, MONTHLY)
    engine_thread = project._thread.thread
    read_every_mission = []
    real = Tx.missions

    def spy(self, *args, **kwargs):
        if threading.current_thread() is engine_thread:
            read_every_mission.append(args or kwargs)
        return real(self, *args, **kwargs)
    monkeypatch.setattr(Tx, "missions", spy)
    due = parse_iso(mission.next_run_at) + timedelta(seconds=1)

    async def next_look() -> float:  # on the engine's thread, where the scheduler looks
        return project.aio.scheduler.seconds_to_next(due - timedelta(seconds=30))
    assert project._thread.call(next_look()) == pytest.approx(29 + 0.01)  # (due is 1 s past the occurrence)
    assert tick(project, due) == [mission.id]
    assert read_every_mission == []


def test_a_six_field_cron_stored_by_an_earlier_version_still_reads_and_runs_as_before(project, project_dir):
    """The 5-field rule is for what is saved from now on: a mission an earlier version stored with six
    fields stays in the lists, with its schedule, and its next run is computed as it was (croniter)."""
    saved = _scheduled(project, MONTHLY)
    with sqlite3.connect(project_dir / ".polpo" / "state.db") as conn:
        conn.execute("UPDATE missions SET doc = json_set(doc, '$.schedule', '0 0 1 * * 30') WHERE id = ?", (saved.id,))
    again = project.get_mission(saved.id)
    assert again.schedule == "0 0 1 * * 30"
    assert [m.id for m in project.list_missions()] == [saved.id]
    start = datetime(2030, 1, 1, tzinfo=UTC)
    assert next_run(again, start) == datetime(2030, 1, 1, 0, 0, 30, tzinfo=UTC)  # croniter: seconds last
    # an edit of another field keeps it (the schedule is not what is being saved), and so does a task added...
    assert project.update_mission(saved.id, {"prompt": "the monthly report"}).schedule == "0 0 1 * * 30"
    assert project.add_mission_task(saved.id, {"title": "b", "assignTo": "w"}).title == "b"
    # ...while giving it that schedule anew is refused, as for any new input
    with pytest.raises(polpo.SpecError, match="has 6 fields"):
        project.update_mission(saved.id, {"schedule": "0 0 1 * * 30"})


def test_a_recurring_schedule_that_ends_before_it_first_fires_is_refused_at_save(project):
    """It was saved as a `draft`, without a word: the user asked for a schedule that never fires."""
    project.agent("w")(lambda task, ctx: "ran")
    with pytest.raises(polpo.SpecError) as info:
        project.save_mission(polpo.Mission("report", schedule="0 9 * * *", end_date=datetime(2020, 1, 1, tzinfo=UTC))
                             .task("a", assign_to="w"))
    assert info.value.errors == [{"loc": ["endDate"], "msg": "endDate 2020-01-01T00:00:00Z is before the first "
                                  "occurrence of '0 9 * * *' from now: the schedule would never fire"}]
    assert project.list_missions() == []


def test_a_schedule_that_has_run_its_course_still_takes_edits_of_other_fields(project, project_dir):
    saved = _scheduled(project, MONTHLY, end_date=datetime.now(UTC) + timedelta(days=400))
    with sqlite3.connect(project_dir / ".polpo" / "state.db") as conn:  # its endDate passes
        conn.execute("UPDATE missions SET doc = json_set(doc, '$.endDate', '2020-01-01T00:00:00Z') WHERE id = ?",
                     (saved.id,))
    assert project.update_mission(saved.id, {"prompt": "the monthly report"}).prompt == "the monthly report"


@pytest.mark.parametrize("schedule", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_one_shot_time_outside_the_utc_calendar_is_refused_at_save(project, schedule: str):
    """In UTC it falls in year 0 or 10000, which no datetime holds: the save raised OverflowError (a 500)."""
    project.agent("w")(lambda task, ctx: "ran")
    with pytest.raises(polpo.SpecError) as info:
        project.save_mission(polpo.Mission("report", schedule=schedule).task("a", assign_to="w"))
    assert info.value.errors[0]["loc"] == ["schedule"] and "outside" in info.value.errors[0]["msg"]
    assert project.list_missions() == []


def test_a_schedule_in_year_one_is_written_padded_and_stops_no_other_schedule(project, project_dir):
    """`nextRunAt` was written `1-01-01T00:00:00Z` (strftime does not pad years before 1000), which no reader
    parses: the scheduler's loop died on it, and every schedule of the project stopped firing."""
    ancient = _scheduled(project, "0001-01-01T00:00:00Z")
    assert ancient.next_run_at == "0001-01-01T00:00:00Z"
    soon = project.save_mission(polpo.Mission("soon", schedule=MONTHLY).task("a", assign_to="w"))
    # a record an earlier version wrote unpadded still reads, and neither the look nor the sleep fails on it
    with sqlite3.connect(project_dir / ".polpo" / "state.db") as conn:
        conn.execute("UPDATE missions SET doc = json_set(doc, '$.nextRunAt', '1-01-01T00:00:00Z') WHERE id = ?",
                     (ancient.id,))
    assert project._thread.call(asyncio.to_thread(project.aio.scheduler.seconds_to_next)) > 0
    due = parse_iso(soon.next_run_at) + timedelta(seconds=1)
    assert tick(project, due) == [soon.id]
    assert [h.outcome for h in project.schedule_history(ancient.id)] == ["missed"]  # reported, as any past one-shot


def test_a_mission_stored_with_a_non_finite_number_stops_no_schedule(project, project_dir):
    """Written by an earlier version (over /mcp, `1e999` in its data): SQLite's json functions refuse the
    row's `Infinity`, and the look that picks the scheduled missions failed whole, at every look."""
    poisoned = _scheduled(project, MONTHLY)
    soon = project.save_mission(polpo.Mission("soon", schedule=MONTHLY).task("a", assign_to="w"))
    with sqlite3.connect(project_dir / ".polpo" / "state.db") as conn:
        conn.execute("UPDATE missions SET doc = replace(doc, '\"prompt\":\"\"', '\"data\":Infinity,\"prompt\":\"\"') "
                     "WHERE id = ?", (poisoned.id,))
        assert conn.execute("SELECT json_valid(doc) FROM missions WHERE id = ?", (poisoned.id,)).fetchone() == (0,)
    due = parse_iso(soon.next_run_at) + timedelta(seconds=1)
    assert tick(project, due) == [soon.id]


def test_a_one_shot_time_missed_leaves_the_mission_a_draft(project, events):
    """Its only occurrence went by unrun: reported missed, and the mission is no longer `scheduled` (it
    stayed so for ever, with no next run)."""
    when = datetime.now(UTC) + timedelta(days=3)
    mission = _scheduled(project, when.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert tick(project, when + timedelta(hours=1)) == []
    record = project.get_mission(mission.id)
    assert (record.status, record.next_run_at) == (MissionStatus.DRAFT, None)
    assert [m["occurrences"] for m in events.of("schedule:missed")] == [[mission.next_run_at]]


def test_an_occurrence_skipped_while_the_run_goes_on_is_not_put_back_by_the_run_s_end(project, events):
    """The run's end wrote its own `nextRunAt` (the skipped occurrence) back: the occurrence was then
    reported a second time, as missed for want of an engine."""
    gate = threading.Event()
    project.agent("w")(lambda task, ctx: gate.wait(WAIT) and "ok")
    mission = project.save_mission(polpo.Mission("busy", schedule=MONTHLY).task("a", assign_to="w"))
    run = project.execute("busy")
    skipped = parse_iso(mission.next_run_at)
    assert tick(project, skipped + timedelta(seconds=1)) == []
    gate.set()
    run.wait(WAIT)
    assert parse_iso(project.get_mission("busy").next_run_at) > skipped
    assert tick(project, skipped + timedelta(seconds=2)) == []
    assert len(events.of("schedule:missed")) == 1


def test_a_one_shot_time_saved_again_after_it_fired_is_not_reported_missed(project, events):
    """A client sending every field back saves the same one-shot schedule again: the occurrence that
    fired is not fired or reported again, and the schedule is over at once."""
    when = datetime.now(UTC) + timedelta(days=3)
    mission = _scheduled(project, when.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert tick(project, when + timedelta(seconds=1)) == [mission.id]
    polpo.RunHandle(project.aio, mission.id, mission_id=mission.id).wait(WAIT)
    project.update_mission(mission.id, {"schedule": mission.schedule, "prompt": "again"})
    assert tick(project, when + timedelta(seconds=2)) == []
    record = project.get_mission(mission.id)
    assert (record.status, record.next_run_at, record.execution_count) == (MissionStatus.COMPLETED, None, 1)
    assert events.of("schedule:missed") == [] and len(events.of("schedule:triggered")) == 1
    assert [h.outcome for h in project.schedule_history(mission.id)] == ["fired"]


def test_an_engine_that_cannot_play_a_mission_leaves_its_occurrence_to_one_that_can(project_dir):
    """A notebook registers the function agent; a second engine (another kernel, `polpo serve`) lacks
    it. The second looked first, claimed the occurrence, failed it, and the notebook never ran it. It
    leaves the occurrence to another engine for most of the grace period; then, if none took it, it
    claims it and says why it could not start (schedule:failed)."""
    notebook, other = polpo.Project(project_dir), polpo.Project(project_dir)
    try:
        notebook.agent("w")(lambda task, ctx: "ran")
        mission = notebook.save_mission(polpo.Mission("shared", schedule=MONTHLY).task("a", assign_to="w"))
        due = parse_iso(mission.next_run_at) + timedelta(seconds=1)
        assert tick(other, due) == []  # not its to fire: it cannot play `w`
        assert other.get_mission(mission.id).next_run_at == mission.next_run_at
        assert tick(notebook, due) == [mission.id]
        assert polpo.RunHandle(notebook.aio, mission.id, mission_id=mission.id).wait(WAIT).status == MissionStatus.COMPLETED
        assert [h.outcome for h in notebook.schedule_history(mission.id)] == ["fired"]

        late = parse_iso(notebook.get_mission(mission.id).next_run_at) + timedelta(seconds=GRACE_SECONDS - 1)
        notebook.close()  # no engine that can play it is left
        assert tick(other, late) == [mission.id]  # near the end of the grace period: claimed, and failed
        [failed] = [e.data for e in other.replay(0, "schedule:failed")]
        assert failed["missionId"] == mission.id and "'w'" in failed["error"]
        # the failed firing started no run: no `schedule:triggered` says it did (with a count it never reached)
        triggered = [e.data for e in other.replay(0, "schedule:triggered")]
        assert [t["executionCount"] for t in triggered] == [1] and other.get_mission(mission.id).execution_count == 1
        executed = [e.id for e in other.replay(0, "mission:executed")]
        assert [e.id for e in other.replay(0, "schedule:triggered")][0] == executed[0] - 1  # its run's first commit
    finally:
        notebook.close()
        other.close()


def test_a_scheduler_cancelled_in_the_turn_it_is_woken_stops(project):
    """Closing a project cancels its scheduler, often in the loop turn where the close's last event wakes
    it. On Python 3.11 `asyncio.wait_for` then returned the wake-up and dropped the cancellation: the
    scheduler looked again and slept on, the close waited its 5 s grace in vain, and the loop was closed
    under a pending task ("Task was destroyed but it is pending!" on stderr)."""
    aio = project.aio

    async def cancelled_as_woken(turns: int) -> bool:
        scheduler = Scheduler(aio.store, aio.journal, aio.owner, aio.engine.execute_mission, aio.engine.unplayable)
        task = asyncio.create_task(scheduler.run())
        while scheduler.looks == 0:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.01)  # asleep until woken
        scheduler.wake()
        for _ in range(turns):  # the cancellation lands this many loop turns after the wake-up
            await asyncio.sleep(0)
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=2)
        if not done:  # went on: stop it for good before the next round
            task.cancel()
            await asyncio.wait([task], timeout=2)
        return bool(done)

    assert [project._thread.call(cancelled_as_woken(turns)) for turns in range(6)] == [True] * 6
