"""Lifecycle rules found off the happy path: refused commands, transitions, resumes, aborts, waiting."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

import pytest
from support import wait_for

import polpo_nb as polpo
from polpo_nb.engine import writes as writes_module
from polpo_nb.engine.schedules import DEFER_SECONDS, parse_iso
from polpo_nb.engine.states import TRANSITIONS
from polpo_nb.errors import ConflictError, InternalError, PolpoError, StoreError, error_for_code
from polpo_nb.events.catalog import TeamRenamed
from polpo_nb.spec import MissionStatus, TaskStatus

WAIT = 30


def ok(task, ctx):
    return f"did {task.title}"


def boom(task, ctx):
    raise RuntimeError("the agent broke")


# == refused commands ==================================================================================

def test_retry_of_a_draft_task_is_refused_and_it_stays_draft(project):
    project.agent("w")(ok)
    task = project.create_task({"title": "t", "assignTo": "w"})
    with pytest.raises(ConflictError) as info:
        project.retry_task(task.id)
    assert info.value.code == "CONFLICT"
    assert "only a failed task can be retried" in info.value.message
    assert "draft" in info.value.message
    assert project.get_task(task.id).status == TaskStatus.DRAFT
    assert project.attempts(task.id) == []


def test_reassess_of_a_task_whose_agent_raised_is_refused_and_it_stays_failed(project):
    project.agent("w")(boom)
    record = project.execute(polpo.Mission("m").task("a", assign_to="w", max_retries=0)).wait(WAIT)
    task = record.tasks[0]
    assert task.status == TaskStatus.FAILED and task.result.error
    with pytest.raises(ConflictError) as info:
        project.reassess_task(task.id)
    assert "no result to assess" in info.value.message
    again = project.get_task(task.id)
    assert again.status == TaskStatus.FAILED and again.assessment is None


def test_reassess_of_a_skipped_task_is_refused(project):
    project.agent("w")(boom)
    project.agent("ok")(ok)
    record = project.execute(polpo.Mission("m").task("a", assign_to="w", max_retries=0)
                             .task("b", assign_to="ok", depends_on=["a"])).wait(WAIT)
    skipped = record.tasks[1]
    assert skipped.status == TaskStatus.FAILED
    with pytest.raises(ConflictError):
        project.reassess_task(skipped.id)
    assert project.get_task(skipped.id).status == TaskStatus.FAILED


def test_reassess_in_a_paused_mission_says_it_is_paused_and_what_to_do(project):
    """The refusal said the task "belongs to a running mission" while the mission waited at a checkpoint."""
    project.agent("w")(ok)
    record = project.execute(polpo.Mission("m").task("a", assign_to="w").task("b", assign_to="w", depends_on=["a"])
                             .checkpoint("look", after=["a"], message="read a")).wait(WAIT)
    assert record.status == MissionStatus.PAUSED
    with pytest.raises(ConflictError) as info:
        project.reassess_task(record.tasks[0].id)
    assert info.value.message.endswith("belongs to mission 'm', which is paused (checkpoint): resume it, and "
                                       "reassess the task once the mission has finished")
    assert "running" not in info.value.message
    assert project.get_task(record.tasks[0].id).status == TaskStatus.DONE


# == events and errors =================================================================================

def test_an_event_payload_may_carry_a_name_key(project, events):
    project._thread.call(project.aio.journal.emit(TeamRenamed(name="a name")))
    assert events.of("team:renamed") == [{"name": "a name", "timestamp": events.of("team:renamed")[0]["timestamp"]}]


def test_a_schedule_whose_run_cannot_start_publishes_schedule_failed(project, events):
    project.agent("w")(ok)
    mission = project.save_mission(polpo.Mission("report", schedule="0 0 1 * *").task("a", assign_to="w"))
    project.remove_agent("w")  # nothing can play the task any more: the run is refused at start
    due = parse_iso(mission.next_run_at) + timedelta(seconds=1)
    # left to an engine that could play it, if any, for most of the grace period (test_schedules.py)
    assert project._thread.call(project.aio.scheduler.tick_once(due)) == []
    late = parse_iso(mission.next_run_at) + timedelta(seconds=DEFER_SECONDS)
    assert project._thread.call(project.aio.scheduler.tick_once(late)) == [mission.id]
    [failed] = events.of("schedule:failed")
    assert failed["name"] == "report" and failed["missionId"] == mission.id
    assert "unknown agent 'w'" in failed["error"]


def test_every_code_a_refusal_has_comes_back_as_its_class_across_a_process():
    from polpo_nb.errors import ForbiddenError, NotFoundError, SpecError, StoreWriteError

    for cls in (NotFoundError, ConflictError, ForbiddenError, StoreWriteError):
        error = error_for_code(cls.code, "refused")
        assert type(error) is cls and error.message == "refused"
    assert isinstance(error_for_code("BAD_REQUEST", "bad"), SpecError)


def test_an_internal_error_code_is_not_a_store_error():
    error = error_for_code("INTERNAL", "ZeroDivisionError: division by zero")
    assert isinstance(error, InternalError) and not isinstance(error, StoreError)
    assert error.code == "INTERNAL"
    assert "state database" not in error.message


def test_an_unexpected_failure_in_the_owning_process_reads_as_an_internal_error(project_dir):
    owner = polpo.Project(project_dir)
    sender = polpo.Project(project_dir)
    try:
        async def broken(task_id: str) -> None:
            raise ZeroDivisionError("division by zero")
        owner.aio.engine.retry = broken  # type: ignore[method-assign]
        with pytest.raises(PolpoError) as info:
            sender._thread.call(sender.aio.commands.send(owner.aio.owner, "retry", task_id="task_x"))
        assert isinstance(info.value, InternalError) and not isinstance(info.value, StoreError)
        assert "ZeroDivisionError: division by zero" in info.value.message
        assert "unexpectedly" in info.value.message
    finally:
        sender.close()
        owner.close()


# == transitions =======================================================================================

def test_every_published_transition_went_through_the_table(project, events, monkeypatch):
    checked: list[tuple[str, str]] = []
    real = writes_module.check_transition

    def spy(task_id, current, target):
        checked.append((current.value, target.value))
        real(task_id, current, target)
    monkeypatch.setattr(writes_module, "check_transition", spy)
    project.agent("w")(ok)
    mission = polpo.Mission("m").task("a", assign_to="w")
    project.execute(mission).wait(WAIT)
    project.execute("m").wait(WAIT)  # a second execution: done -> pending
    published = [(d["from"], d["to"]) for d in events.of("task:transition")]
    assert ("done", "pending") in published
    assert sorted(published) == sorted(checked)
    assert all((TaskStatus(f), TaskStatus(t)) in TRANSITIONS for f, t in published)


def test_the_transition_table_says_what_its_keys_are():
    import inspect

    from polpo_nb.engine import states

    source = inspect.getsource(states)
    assert "(from, to)" in source


# == resume, abort, timing =============================================================================

def test_resume_with_retry_failed_does_not_fire_a_passed_checkpoint_again(project, events):
    attempts = {"b": 0}

    @project.agent("w")
    def work(task, ctx):
        if task.title == "b":
            attempts["b"] += 1
            if attempts["b"] == 1:
                raise RuntimeError("transient")
        return "ok"

    mission = (polpo.Mission("m").task("a", assign_to="w").task("b", assign_to="w", depends_on=["a"], max_retries=0)
               .checkpoint("review", after=["a"]))
    run = project.execute(mission)
    assert run.wait(WAIT).status == MissionStatus.PAUSED
    assert project.resume("m").wait(WAIT).status == MissionStatus.FAILED
    assert len(events.of("checkpoint:waiting")) == 1
    record = project.resume("m", retry_failed=True).wait(WAIT)
    assert record.status == MissionStatus.COMPLETED
    assert len(events.of("checkpoint:waiting")) == 1


def test_an_aborted_missions_unfinished_tasks_say_aborted(project):
    started = threading.Event()

    @project.agent("slow")
    async def slow(task, ctx):
        started.set()
        await asyncio.sleep(60)

    project.agent("w")(ok)
    mission = (polpo.Mission("m").task("done-first", assign_to="w")
               .task("running", assign_to="slow", depends_on=["done-first"])
               .task("waiting", assign_to="w", depends_on=["running"]))
    project.execute(mission)
    assert started.wait(WAIT)
    record = project.abort("m")
    first, running, waiting = record.tasks
    assert first.status == TaskStatus.DONE and first.result.error is None
    for task in (running, waiting):
        assert task.status == TaskStatus.FAILED
        assert task.result.error.startswith("aborted")


def test_a_task_sent_back_to_pending_has_no_duration(project):
    calls = {"n": 0}

    @project.agent("w")
    def work(task, ctx):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("first attempt fails")
        return "ok"

    seen: list[float | None] = []

    def on_transition(event):  # on the publishing thread, right after the commit
        if event.data["to"] == "pending" and event.data["from"] != "draft":
            with project.aio.store.read() as tx:
                result = tx.task(event.data["taskId"]).result
            seen.append(result.duration_ms if result else None)
    project.subscribe(on_transition, "task:transition")
    record = project.execute(polpo.Mission("m").task("a", assign_to="w", max_retries=0)).wait(WAIT)
    task = record.tasks[0]
    assert task.status == TaskStatus.FAILED and task.result.duration_ms is not None
    project.retry_task(task.id)  # failed -> pending
    wait_for(lambda: project.get_task(task.id).status == TaskStatus.DONE)
    assert seen == [None]
    assert project.get_task(task.id).result.duration_ms is not None  # the new attempt's own duration


# == waiting on another process's run ==================================================================

def test_waiting_on_a_run_owned_elsewhere_follows_events_not_a_poll(project_dir):
    owner = polpo.Project(project_dir)
    watcher = polpo.Project(project_dir)
    release = threading.Event()
    try:
        @owner.agent("w")
        def work(task, ctx):
            release.wait(WAIT)
            return "ok"

        owner.execute(polpo.Mission("m").task("a", assign_to="w"))
        mission = watcher.get_mission("m")
        reads = {"n": 0}
        real = watcher.aio.get_mission

        async def counting(ref):
            reads["n"] += 1
            return await real(ref)
        watcher.aio.get_mission = counting  # type: ignore[method-assign]
        relevant: list[str] = []
        watcher.subscribe(lambda e: e.data.get("missionId") == mission.id and relevant.append(e.event))
        subscribers = watcher.aio.bus.subscriber_count
        handle = polpo.RunHandle(watcher.aio, mission.id, mission_id=mission.id)
        result: list = []
        waiter = threading.Thread(target=lambda: result.append(handle.wait(WAIT)))
        waiter.start()
        wait_for(lambda: watcher.aio.bus.subscriber_count == subscribers + 1)  # it listens to the event stream
        release.set()
        waiter.join(WAIT)
        assert result and result[0].status == MissionStatus.COMPLETED
        assert reads["n"] <= len(relevant) + 1  # one read to start, then at most one per event of the mission
        wait_for(lambda: watcher.aio.bus.subscriber_count == subscribers)  # the waiter's subscription is gone
    finally:
        release.set()
        watcher.close()
        owner.close()
