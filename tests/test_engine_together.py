"""Things that happen together: a pause decided while other work settles, two failures at once, a
call that timed out while it waited for a thread. Each was seen by a user running missions; each test
repeats its mission a few times, since the order of settles is the loop's."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import polpo_nb as polpo
from polpo_nb.agents import AgentUnavailableError
from polpo_nb.spec import MissionStatus, TaskStatus

WAIT = 30
ROUNDS = 4


def _events(project: polpo.Project, mission_id: str, name: str) -> list[Any]:
    return [e for e in project.replay(0) if e.event == name and e.data.get("missionId") == mission_id]


def _task(record: Any, title: str) -> Any:
    return next(t for t in record.tasks if t.title == title)


def test_a_checkpoint_holds_its_dependents_while_another_task_waits_for_approval(project):
    """A side-effect task reaching approval as the checkpoint's task finishes: the checkpoint still holds
    the tasks after it until resume (they ran at once, and approving the other task completed the
    mission without any resume)."""
    project.agent("ok")(lambda task, ctx: "fine")
    for i in range(ROUNDS):
        mission = (polpo.Mission(f"cp{i}").task("A", assign_to="ok").task("S", assign_to="ok", side_effects=True)
                   .task("D", assign_to="ok", depends_on=["A"]).checkpoint("cp", after=["A"], message="hold D"))
        record = project.execute(mission).wait(WAIT)
        assert record.status == MissionStatus.PAUSED and record.pause_reason == "checkpoint"
        assert _task(record, "D").status == TaskStatus.PENDING
        assert project.attempts(_task(record, "D").id) == []
        project.approve_task(_task(record, "S").id)
        assert project.get_mission(record.id).status == MissionStatus.PAUSED  # only a resume lets D go
        assert project.resume(record.id).wait(WAIT).status == MissionStatus.COMPLETED


def test_a_task_that_fails_while_its_mission_pauses_waits_for_the_resume_to_retry(project):
    """No new attempt starts while the mission is paused; the retry comes with the resume, on the same
    retry budget (attempt 2 of 3, not a fresh count)."""
    paused = threading.Event()
    project.subscribe(lambda e: e.data.get("to") == "paused" and paused.set(), "mission:status")
    calls: list[int] = []

    @project.agent("flaky")
    def flaky(task, ctx):
        calls.append(ctx.attempt)
        if ctx.attempt == 1:
            assert paused.wait(WAIT)  # the first attempt fails after the checkpoint paused the mission
            raise RuntimeError("flake")
        if ctx.attempt == 2:
            raise RuntimeError("flake again")
        return "finally"

    project.agent("ok")(lambda task, ctx: "fine")
    mission = (polpo.Mission("rp").task("A", assign_to="ok").task("S", assign_to="flaky", max_retries=2)
               .task("D", assign_to="ok", depends_on=["A"]).checkpoint("cp", after=["A"]))
    record = project.execute(mission).wait(WAIT)
    s = _task(record, "S")
    assert record.status == MissionStatus.PAUSED and calls == [1]
    assert s.status == TaskStatus.PENDING and s.retries == 1
    record = project.resume(record.id).wait(WAIT)
    assert record.status == MissionStatus.COMPLETED and calls == [1, 2, 3]
    assert [a.number for a in project.attempts(s.id)] == [1, 2, 3]


def test_a_task_whose_fix_is_due_while_its_mission_pauses_is_fixed_after_the_resume(project):
    paused = threading.Event()
    project.subscribe(lambda e: e.data.get("to") == "paused" and paused.set(), "mission:status")
    phases: list[str] = []

    @project.agent("writer")
    def writer(task, ctx):
        phases.append(ctx.phase.value)
        if len(phases) == 1:
            assert paused.wait(WAIT)
            return "draft"
        return "final"

    project.agent("ok")(lambda task, ctx: "fine")
    project.judge(lambda expectation, task, result: (5, "good") if result.content == "final" else (1, "redo"))
    mission = (polpo.Mission("fx").task("A", assign_to="ok")
               .task("S", assign_to="writer", max_retries=1, expectations=[{"criterion": "final"}])
               .task("D", assign_to="ok", depends_on=["A"]).checkpoint("cp", after=["A"]))
    record = project.execute(mission).wait(WAIT)
    assert record.status == MissionStatus.PAUSED and phases == ["execution"]
    assert _task(record, "S").status == TaskStatus.PENDING and _task(record, "S").feedback
    record = project.resume(record.id).wait(WAIT)
    assert record.status == MissionStatus.COMPLETED and phases == ["execution", "fix"]


def test_a_task_after_two_failures_at_once_is_skipped_once(project):
    @project.agent("bad")
    def bad(task, ctx):
        raise RuntimeError("no")

    for i in range(ROUNDS):
        mission = (polpo.Mission(f"ds{i}").task("A", assign_to="bad", max_retries=0)
                   .task("B", assign_to="bad", max_retries=0).task("C", assign_to="bad", depends_on=["A", "B"]))
        record = project.execute(mission).wait(WAIT)
        c = _task(record, "C")
        skips = [e for e in _events(project, record.id, "task:transition") if e.data["taskId"] == c.id
                 and e.data["to"] == "failed"]
        assert len(skips) == 1 and skips[0].data["from"] == "pending"


def test_a_gate_blocked_by_two_failures_at_once_pauses_the_mission_once(project):
    @project.agent("bad")
    def bad(task, ctx):
        raise RuntimeError("no")

    project.agent("ok")(lambda task, ctx: "fine")
    for i in range(ROUNDS):
        mission = (polpo.Mission(f"dg{i}").task("A", assign_to="bad", max_retries=0)
                   .task("B", assign_to="bad", max_retries=0).task("C", assign_to="ok")
                   .gate(after=["A", "B"], blocks=["C"]))
        record = project.execute(mission).wait(WAIT)
        assert record.status == MissionStatus.PAUSED and record.pause_reason == "gate"
        assert len(_events(project, record.id, "gate:blocked")) == 1
        assert [e.data["from"] for e in _events(project, record.id, "mission:status") if e.data["to"] == "paused"] \
            == ["active"]


def test_a_call_that_timed_out_waiting_for_a_thread_never_runs(project_dir):
    """With every worker thread held by a body that ignores `ctx.cancelled`, a task's call waits in the
    pool's queue; its maxDuration passes and its attempt fails. Its body must not run once a thread
    frees (it ran then, with `ctx.cancelled` already true, after the mission had failed)."""
    release = threading.Event()
    ran: list[str] = []
    with polpo.Project(project_dir, config={"maxConcurrency": 1}) as project:
        project.agent("stuck")(lambda task, ctx: release.wait(WAIT) and "late")
        project.agent("quick")(lambda task, ctx: ran.append(task.title) or "ok")
        mission = (polpo.Mission("z").task("S", assign_to="stuck", max_duration=100, max_retries=0)
                   .task("Q", assign_to="quick", max_duration=200, max_retries=0, priority=-1))
        record = project.execute(mission).wait(WAIT)
        assert record.status == MissionStatus.FAILED
        assert "maxDuration" in _task(record, "Q").result.error
        release.set()
        # the pool runs its queue in order: once this later call has run, the queued one had its turn
        assert project.execute(polpo.Mission("probe").task("P", assign_to="quick")).wait(WAIT).status \
            == MissionStatus.COMPLETED
        assert ran == ["P"]


def test_a_fallback_agent_removed_after_the_save_is_refused_at_execute(project):
    @project.agent("w")
    def w(task, ctx):
        raise RuntimeError("no")

    project.agent("spare")(lambda task, ctx: "ok")
    project.save_mission(polpo.Mission("fb").task("A", assign_to="w", max_retries=1,
                                                  retry_policy={"fallbackAgent": "spare"}))
    project.remove_agent("spare")
    with pytest.raises(AgentUnavailableError) as info:
        project.execute("fb")
    assert "fallbackAgent" in info.value.message and "'spare'" in info.value.message
    assert project.get_mission("fb").status == MissionStatus.DRAFT


def test_an_agent_gone_during_a_run_fails_its_task_saying_so_not_with_polpo_s_traceback(project):
    started = threading.Event()
    release = threading.Event()

    @project.agent("w")
    def w(task, ctx):
        started.set()
        release.wait(WAIT)
        raise RuntimeError("no")

    project.agent("spare")(lambda task, ctx: "ok")
    run = project.execute(polpo.Mission("gone").task("A", assign_to="w", max_retries=1,
                                                     retry_policy={"fallbackAgent": "spare"}))
    assert started.wait(WAIT)
    project.remove_agent("spare")
    release.set()
    a = _task(run.wait(WAIT), "A")
    assert a.status == TaskStatus.FAILED
    assert a.result.error.startswith("unknown agent 'spare'") and "Traceback" not in a.result.error


def test_the_retry_after_a_fallback_attempt_names_the_agent_that_ran_it(project):
    @project.agent("w")
    def w(task, ctx):
        raise RuntimeError("no")

    calls = []

    @project.agent("fb")
    def fb(task, ctx):
        calls.append(ctx.attempt)
        if len(calls) == 1:
            raise RuntimeError("fallback failed once")
        return "ok"

    record = project.execute(polpo.Mission("names").task(
        "A", assign_to="w", max_retries=3, retry_policy={"escalateAfter": 1, "fallbackAgent": "fb"})).wait(WAIT)
    assert record.status == MissionStatus.COMPLETED
    retried = [(e.data["agentName"]) for e in _events(project, record.id, "task:transition")
               if e.data["from"] == "in_progress" and e.data["to"] == "pending"]
    assert retried == ["w", "fb"]


def test_a_dependent_revived_by_a_retry_carries_no_skip_error(project):
    release = threading.Event()
    calls = []

    @project.agent("once")
    def once(task, ctx):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first time")
        release.wait(WAIT)
        return "ok"

    project.agent("ok")(lambda task, ctx: "ok")
    record = project.execute(polpo.Mission("se").task("A", assign_to="once", max_retries=0)
                             .task("B", assign_to="ok", depends_on=["A"])).wait(WAIT)
    assert _task(record, "B").result.error.startswith("skipped:")
    try:
        project.retry_task(_task(record, "A").id)
        b = _task(project.get_mission(record.id), "B")
        assert b.status == TaskStatus.PENDING and b.result is None
    finally:
        release.set()


@pytest.mark.parametrize("how", ["sys.exit(3)", "sys.exit(0)", "KeyboardInterrupt", "async sys.exit(3)",
                                 "async with maxDuration"])
def test_an_agent_that_exits_fails_its_attempt_and_the_engine_goes_on(project, how):
    """SystemExit (sys.exit in an agent's code) or KeyboardInterrupt reached the engine's event loop, which
    stopped: `polpo run` hung (SIGTERM ignored) or said the project was closed, the mission stayed active."""
    import sys

    def leave() -> None:
        if "KeyboardInterrupt" in how:
            raise KeyboardInterrupt
        sys.exit(0 if "(0)" in how else 3)

    if how.startswith("async"):
        async def quits(task, ctx):
            leave()
        project.agent("quits")(quits)
    else:
        project.agent("quits")(lambda task, ctx: leave())
    project.agent("ok")(lambda task, ctx: "fine")
    limit = {"max_duration": 5000} if "maxDuration" in how else {}
    record = project.execute(polpo.Mission("q").task("A", assign_to="quits", max_retries=1, **limit)
                             .task("B", assign_to="ok")).wait(WAIT)
    a = _task(record, "A")
    assert record.status == MissionStatus.FAILED and _task(record, "B").status == TaskStatus.DONE
    assert "SystemExit" in a.result.error or "KeyboardInterrupt" in a.result.error
    assert [x.status for x in project.attempts(a.id)] == ["failed", "failed"]  # retried like any failure
    assert project.execute(polpo.Mission("after").task("C", assign_to="ok")).wait(WAIT).status \
        == MissionStatus.COMPLETED  # the engine is alive
