"""The orchestrator's rules, one behaviour per test, driven through the public Project API."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from support import wait_for

import polpo_nb as polpo
from polpo_nb.errors import ConflictError, IllegalTransitionError, SpecError
from polpo_nb.spec import MissionStatus, TaskStatus

WAIT = 30  # seconds: a hang is a failure, never a timing assertion


def ok(task, ctx):
    return f"did {task.title}"


def _titles_in_order(project, mission_name, field="title"):
    return [t.title for t in project.get_mission(mission_name).tasks]


def test_mission_runs_dependencies_before_dependents(project):
    started: list[str] = []

    @project.agent("w")
    def work(task, ctx):
        started.append(task.title)
        return "ok"

    mission = (polpo.Mission("dag").task("a", assign_to="w").task("b", assign_to="w", depends_on=["a"])
               .task("c", assign_to="w", depends_on=["a"]).task("d", assign_to="w", depends_on=["b", "c"]))
    record = project.execute(mission).wait(WAIT)
    assert record.status == MissionStatus.COMPLETED
    assert started[0] == "a" and started[-1] == "d" and set(started[1:3]) == {"b", "c"}
    assert all(t.status == TaskStatus.DONE for t in record.tasks)


def test_task_walks_the_state_machine_and_each_transition_is_an_event(project, events):
    project.agent("w")(ok)
    record = project.execute(polpo.Mission("m").task("a", assign_to="w")).wait(WAIT)
    task = record.tasks[0]
    assert events.transitions(task.id) == [
        ("draft", "pending"), ("pending", "assigned"), ("assigned", "in_progress"), ("in_progress", "review"),
        ("review", "done"),
    ]
    assert events.names("mission:")[-2:] == ["mission:status", "mission:completed"]


def test_every_transition_is_durable_before_its_event_is_published(project):
    project.agent("w")(ok)
    seen: list[tuple[str, str]] = []

    def check(event):  # runs on the publishing thread, right after the commit
        with project.aio.store.read() as tx:
            stored = tx.task(event.data["taskId"]).status.value
        seen.append((event.data["to"], stored))

    project.subscribe(check, "task:transition")
    project.execute(polpo.Mission("m").task("a", assign_to="w").task("b", assign_to="w", depends_on=["a"])).wait(WAIT)
    assert len(seen) >= 10
    # each event's target status is already in the store (or a later one: the task moved on meanwhile)
    order = ["draft", "pending", "assigned", "in_progress", "review", "done"]
    assert all(order.index(stored) >= order.index(to) for to, stored in seen)


def test_ready_tasks_start_by_priority_then_creation_order(project_dir):
    proj = polpo.Project(project_dir, config={"maxConcurrency": 1})
    try:
        started: list[str] = []
        proj.agent("w")(lambda task, ctx: started.append(task.title) or "ok")
        mission = (polpo.Mission("m").task("low", assign_to="w", priority=1).task("high", assign_to="w", priority=10)
                   .task("mid-a", assign_to="w", priority=5).task("mid-b", assign_to="w", priority=5))
        proj.execute(mission).wait(WAIT)
        assert started == ["high", "mid-a", "mid-b", "low"]
    finally:
        proj.close()


def test_concurrency_limit_is_respected(project_dir):
    proj = polpo.Project(project_dir, config={"maxConcurrency": 3})
    try:
        running = 0
        peak = 0

        @proj.agent("w")
        async def work(task, ctx):
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.02)
            running -= 1
            return "ok"

        mission = polpo.Mission("m")
        for i in range(12):
            mission.task(f"t{i}", assign_to="w")
        assert proj.execute(mission).wait(WAIT).status == MissionStatus.COMPLETED
        assert peak == 3
    finally:
        proj.close()


def test_failing_attempt_is_retried_up_to_max_retries(project, events):
    calls = {"n": 0}

    @project.agent("flaky")
    def flaky(task, ctx):
        calls["n"] += 1
        if calls["n"] < 3:
            raise RuntimeError(f"boom {calls['n']}")
        return "finally"

    record = project.execute(polpo.Mission("m").task("a", assign_to="flaky", max_retries=2)).wait(WAIT)
    task = record.tasks[0]
    assert task.status == TaskStatus.DONE and task.retries == 2 and calls["n"] == 3
    assert len(events.of("task:retry")) == 2
    attempts = project.attempts(task.id)
    assert [a.status for a in attempts] == ["failed", "failed", "completed"]
    assert "boom 1" in attempts[0].result


def test_agent_that_raises_fails_with_traceback_and_engine_keeps_going(project):
    @project.agent("bad")
    def bad(task, ctx):
        raise ValueError("the agent broke")

    project.agent("good")(ok)
    mission = (polpo.Mission("m").task("broken", assign_to="bad", max_retries=0)
               .task("after", assign_to="good", depends_on=["broken"]).task("independent", assign_to="good"))
    record = project.execute(mission).wait(WAIT)
    by = {t.title: t for t in record.tasks}
    assert record.status == MissionStatus.FAILED
    assert by["broken"].status == TaskStatus.FAILED
    assert "Traceback" in by["broken"].result.error and "the agent broke" in by["broken"].result.error
    assert by["after"].status == TaskStatus.FAILED and by["after"].result.error.startswith("skipped:")
    assert by["independent"].status == TaskStatus.DONE
    session = project.log_sessions()[0].session_id
    assert "the agent broke" in project.log(session)[0].message


def test_failed_assessment_starts_fix_phase_with_feedback(project, events):
    feedback_seen: list[str | None] = []
    phases: list[str] = []

    @project.agent("w")
    def work(task, ctx):
        feedback_seen.append(ctx.feedback)
        phases.append(ctx.phase.value)
        return "v2" if ctx.feedback else "v1"

    @project.judge
    def judge(expectation, task, result):
        return (5, "great") if result.content == "v2" else (2, "add the missing section")

    record = project.execute(polpo.Mission("m").task("a", assign_to="w", expectations=["complete"])).wait(WAIT)
    task = record.tasks[0]
    assert task.status == TaskStatus.DONE and task.assessment.score == 5
    assert phases == ["execution", "fix"]
    assert feedback_seen[0] is None and "add the missing section" in feedback_seen[1]
    assert events.transitions(task.id)[4:6] == [("review", "in_progress"), ("in_progress", "review")]
    assert events.of("task:fix")[0]["feedback"]


def test_score_below_mission_threshold_fails_the_task(project):
    project.agent("w")(ok)
    project.judge(lambda e, t, r: 3.5)
    record = project.execute(
        polpo.Mission("m", quality_threshold=4.0).task("a", assign_to="w", expectations=["x"], max_retries=0)
    ).wait(WAIT)
    assert record.tasks[0].status == TaskStatus.FAILED
    assert record.tasks[0].assessment.score == 3.5 and not record.tasks[0].assessment.passed
    assert record.status == MissionStatus.FAILED


def test_criterion_without_judge_fails_task_with_clear_error(project):
    project.agent("w")(ok)
    record = project.execute(polpo.Mission("m").task("a", assign_to="w", expectations=["x"])).wait(WAIT)
    assert record.tasks[0].status == TaskStatus.FAILED
    assert "judge" in record.tasks[0].result.error
    assert len(project.attempts(record.tasks[0].id)) == 1  # a config problem is not retried


def test_escalation_goes_model_then_fallback_agent(project):
    calls: list[tuple[str, str | None]] = []

    @project.agent("primary", model="cheap-model")
    def primary(task, ctx):
        calls.append((ctx.agent.name, ctx.model))
        raise RuntimeError("not good enough")

    @project.agent("backup")
    def backup(task, ctx):
        calls.append((ctx.agent.name, ctx.model))
        return "rescued"

    mission = polpo.Mission("m").task(
        "a", assign_to="primary", max_retries=4,
        retry_policy={"escalateAfter": 1, "escalateModel": "big-model", "fallbackAgent": "backup"},
    )
    record = project.execute(mission).wait(WAIT)
    assert record.tasks[0].status == TaskStatus.DONE
    assert calls == [("primary", "cheap-model"), ("primary", "big-model"), ("backup", None)]


def test_max_duration_times_out_the_attempt_and_counts_as_a_failed_try(project, events):
    calls = {"n": 0}

    @project.agent("slow")
    async def slow(task, ctx):
        calls["n"] += 1
        if calls["n"] == 1:
            await asyncio.sleep(30)
        return "fast enough"

    record = project.execute(polpo.Mission("m").task("a", assign_to="slow", max_duration=100, max_retries=1)).wait(WAIT)
    task = record.tasks[0]
    assert task.status == TaskStatus.DONE and task.retries == 1
    assert events.of("task:timeout")[0]["maxDuration"] == 100
    assert "timed out" in project.attempts(task.id)[0].result


def test_an_agents_own_timeout_error_is_its_failure_not_a_max_duration(project, events):
    """A socket timeout is a TimeoutError: the agent's failure, with its traceback, whether or not the task
    has a maxDuration; only the deadline that passed is reported as `task:timeout`."""
    @project.agent("net")
    def net(task, ctx):
        raise TimeoutError("upstream read timed out")

    mission = (polpo.Mission("m").task("bare", assign_to="net", max_retries=0)
               .task("bounded", assign_to="net", max_duration=60_000, max_retries=0))
    record = project.execute(mission).wait(WAIT)
    assert [t.status for t in record.tasks] == [TaskStatus.FAILED, TaskStatus.FAILED]
    for task in record.tasks:
        [attempt] = project.attempts(task.id)
        error = json.loads(attempt.result)["error"]
        assert attempt.status == "failed" and "TimeoutError: upstream read timed out" in error, error
        assert "maxDuration" not in error
    assert events.of("task:timeout") == []


def test_side_effects_wait_for_approval_then_complete(project, events):
    project.agent("w")(ok)
    mission = polpo.Mission("m").task("deploy", assign_to="w", side_effects=True).task("notify", assign_to="w", depends_on=["deploy"])
    run = project.execute(mission)
    record = run.wait(WAIT)
    by = {t.title: t for t in record.tasks}
    assert record.status == MissionStatus.ACTIVE
    assert by["deploy"].status == TaskStatus.AWAITING_APPROVAL and by["notify"].status == TaskStatus.PENDING
    assert events.of("approval:requested")[0]["taskId"] == by["deploy"].id
    project.approve_task(by["deploy"].id)
    record = run.wait(WAIT)
    assert record.status == MissionStatus.COMPLETED
    assert events.of("approval:resolved")[0]["approved"] is True


def test_rejected_approval_fails_task_and_skips_dependents(project):
    project.agent("w")(ok)
    mission = polpo.Mission("m").task("deploy", assign_to="w", side_effects=True).task("notify", assign_to="w", depends_on=["deploy"])
    run = project.execute(mission)
    deploy = run.wait(WAIT).tasks[0]
    project.reject_task(deploy.id, "not today")
    record = run.wait(WAIT)
    assert record.status == MissionStatus.FAILED
    assert [t.status for t in record.tasks] == [TaskStatus.FAILED, TaskStatus.FAILED]
    assert "not today" in record.tasks[0].result.error


def test_approving_a_task_not_awaiting_approval_is_refused(project):
    project.agent("w")(ok)
    record = project.execute(polpo.Mission("m").task("a", assign_to="w")).wait(WAIT)
    with pytest.raises(IllegalTransitionError):
        project.approve_task(record.tasks[0].id)


def _gated(min_score: float) -> polpo.Mission:
    return (polpo.Mission("gated").task("build", assign_to="w", expectations=["solid"])
            .task("ship", assign_to="w").gate(after=["build"], blocks=["ship"], min_score=min_score))


def test_gate_lets_blocked_tasks_run_once_min_score_is_met(project, events):
    started: list[str] = []
    project.agent("w")(lambda task, ctx: started.append(task.title) or "ok")
    project.judge(lambda e, t, r: 4.5)
    record = project.execute(_gated(4.0)).wait(WAIT)
    assert record.status == MissionStatus.COMPLETED
    assert started == ["build", "ship"]
    assert events.of("gate:passed")


def test_gate_blocks_below_min_score_and_pauses_the_mission(project, events):
    started: list[str] = []
    project.agent("w")(lambda task, ctx: started.append(task.title) or "ok")
    project.judge(lambda e, t, r: 3.5)  # passes the 3.0 threshold, misses the gate's 4.0
    run = project.execute(_gated(4.0))
    record = run.wait(WAIT)
    assert record.status == MissionStatus.PAUSED and record.pause_reason == "gate"
    assert started == ["build"]
    assert events.of("gate:blocked")[0]["blocksTasks"] == ["ship"]
    assert [m.name for m in project.resumable_missions()] == ["gated"]
    project.resume("gated")  # a human overrides the gate
    assert run.wait(WAIT).status == MissionStatus.COMPLETED
    assert started == ["build", "ship"]


def test_resume_retrying_failures_judges_a_blocked_gate_again_and_pauses_there(project):
    """Nothing failed: the gate is blocked by a low score. `resume(retry_failed=True)` (what the CLI
    suggests) evaluates it again, as the README says, and pauses at it again; it used to leave the
    mission active with the blocked task pending for ever. A plain resume then overrides it."""
    started: list[str] = []
    project.agent("w")(lambda task, ctx: started.append(task.title) or "ok")
    project.judge(lambda e, t, r: 3.5)
    assert project.execute(_gated(4.0)).wait(WAIT).pause_reason == "gate"
    record = project.resume("gated", retry_failed=True).wait(WAIT)
    assert (record.status, record.pause_reason) == (MissionStatus.PAUSED, "gate")
    assert [m.name for m in project.resumable_missions()] == ["gated"]
    assert project.resume("gated").wait(WAIT).status == MissionStatus.COMPLETED
    assert started == ["build", "ship"]


def test_retrying_a_task_of_a_mission_aborted_at_its_gate_pauses_at_the_gate_again(project):
    """The reopened mission does not wait for ever on a task its blocked gate holds back."""
    project.agent("w")(lambda task, ctx: "ok")
    project.judge(lambda e, t, r: 3.5)
    assert project.execute(_gated(4.0)).wait(WAIT).pause_reason == "gate"
    project.abort("gated")
    ship = next(t for t in project.get_mission("gated").tasks if t.title == "ship")
    project.retry_task(ship.id)
    wait_for(lambda: project.get_mission("gated").status != MissionStatus.ACTIVE)
    record = project.get_mission("gated")
    assert (record.status, record.pause_reason) == (MissionStatus.PAUSED, "gate")


def test_checkpoint_pauses_until_resume(project, events):
    started: list[str] = []
    project.agent("w")(lambda task, ctx: started.append(task.title) or "ok")
    mission = (polpo.Mission("cp").task("draft", assign_to="w").task("publish", assign_to="w", depends_on=["draft"])
               .checkpoint("review", after=["draft"], message="Read the draft first"))
    run = project.execute(mission)
    record = run.wait(WAIT)
    assert record.status == MissionStatus.PAUSED
    assert record.pause_reason == "checkpoint" and record.pause_message == "Read the draft first"
    assert started == ["draft"]
    assert events.of("checkpoint:waiting")[0]["checkpoint"] == "review"
    project.resume("cp")
    assert run.wait(WAIT).status == MissionStatus.COMPLETED
    assert started == ["draft", "publish"]
    assert events.of("checkpoint:resumed")


def test_resume_with_retry_failed_reruns_failed_and_skipped_tasks(project):
    calls = {"n": 0}

    @project.agent("w")
    def work(task, ctx):
        if task.title == "a":
            calls["n"] += 1
            if calls["n"] == 1:
                raise RuntimeError("transient")
        return "ok"

    mission = polpo.Mission("m").task("a", assign_to="w", max_retries=0).task("b", assign_to="w", depends_on=["a"])
    run = project.execute(mission)
    assert run.wait(WAIT).status == MissionStatus.FAILED
    with pytest.raises(ConflictError):
        project.resume("m")  # failed needs retryFailed
    record = project.resume("m", retry_failed=True).wait(WAIT)
    assert record.status == MissionStatus.COMPLETED
    assert [t.status for t in record.tasks] == [TaskStatus.DONE, TaskStatus.DONE]
    assert record.tasks[0].retries == 1


def test_abort_cancels_running_attempts(project, events):
    started = threading.Event()

    @project.agent("slow")
    async def slow(task, ctx):
        started.set()
        await asyncio.sleep(60)
        return "never"

    mission = polpo.Mission("m").task("a", assign_to="slow").task("b", assign_to="slow", depends_on=["a"])
    run = project.execute(mission)
    assert started.wait(WAIT)
    record = project.abort("m")
    assert record.status == MissionStatus.CANCELLED
    assert all(t.status == TaskStatus.FAILED for t in record.tasks)
    assert project.attempts(record.tasks[0].id)[0].status == "killed"
    assert events.of("mission:aborted")
    assert events.of("mission:completed")[-1]["status"] == "cancelled"
    assert run.wait(WAIT).status == MissionStatus.CANCELLED


def test_kill_fails_a_running_task_and_retry_revives_its_skipped_dependents(project):
    started = threading.Event()
    first = {"run": True}

    @project.agent("w")
    async def work(task, ctx):
        if task.title == "a" and first["run"]:
            first["run"] = False
            started.set()
            await asyncio.sleep(60)
        return "ok"

    run = project.execute(polpo.Mission("m").task("a", assign_to="w").task("b", assign_to="w", depends_on=["a"]))
    assert started.wait(WAIT)
    a_id = project.get_mission("m").tasks[0].id
    killed = project.kill_task(a_id)
    assert killed.status == TaskStatus.FAILED and killed.result.error == "killed"
    assert run.wait(WAIT).status == MissionStatus.FAILED
    retried = project.retry_task(a_id)
    assert retried.retries == 1
    wait_for(lambda: project.get_mission("m").status == MissionStatus.COMPLETED)
    assert [t.status for t in project.get_mission("m").tasks] == [TaskStatus.DONE, TaskStatus.DONE]


def test_retry_of_a_task_that_is_not_failed_is_refused(project):
    project.agent("w")(ok)
    record = project.execute(polpo.Mission("m").task("a", assign_to="w")).wait(WAIT)
    with pytest.raises(IllegalTransitionError) as info:
        project.retry_task(record.tasks[0].id)
    assert "done" in str(info.value)


def test_kill_of_a_finished_task_is_refused(project):
    project.agent("w")(ok)
    record = project.execute(polpo.Mission("m").task("a", assign_to="w")).wait(WAIT)
    with pytest.raises(ConflictError):
        project.kill_task(record.tasks[0].id)


def test_reassess_uses_the_stored_result_without_rerunning(project):
    calls = {"n": 0}

    @project.agent("w")
    def work(task, ctx):
        calls["n"] += 1
        return "result"

    scores = iter([4, 2])
    project.judge(lambda e, t, r: next(scores))
    record = project.execute(polpo.Mission("m").task("a", assign_to="w", expectations=["x"])).wait(WAIT)
    task = record.tasks[0]
    assert task.assessment.score == 4
    again = project.reassess_task(task.id)
    assert again.assessment.score == 2 and again.status == TaskStatus.FAILED
    assert calls["n"] == 1


def test_deadline_fails_the_mission_and_cancels_running_attempts(project):
    from datetime import UTC, datetime, timedelta

    @project.agent("slow")
    async def slow(task, ctx):
        await asyncio.sleep(60)

    mission = polpo.Mission("m", deadline=datetime.now(UTC) + timedelta(milliseconds=300)).task("a", assign_to="slow")
    record = project.execute(mission).wait(WAIT)
    assert record.status == MissionStatus.FAILED and record.error == "deadline"
    assert record.tasks[0].status == TaskStatus.FAILED


def test_volatile_team_agents_exist_only_while_the_mission_runs(project):
    gate = threading.Event()
    project.agent("fn")(lambda task, ctx: gate.wait(WAIT) and "ok")
    mission = polpo.Mission.model_validate({
        "name": "m", "tasks": [{"title": "a", "assignTo": "fn"}],
        "team": {"name": "crew", "volatile": True, "agents": [{"name": "fn", "role": "r"}, {"name": "temp", "role": "t"}]},
    })
    run = project.execute(mission)
    wait_for(lambda: "temp" in [a.name for a in project.list_agents()])
    gate.set()
    assert run.wait(WAIT).status == MissionStatus.COMPLETED
    assert "temp" not in [a.name for a in project.list_agents()]


def test_standalone_task_executes(project):
    project.agent("w")(lambda task, ctx: {"content": "standalone", "filesCreated": []})
    task = project.create_task({"title": "solo", "description": "d", "assignTo": "w"})
    assert task.status == TaskStatus.DRAFT and task.id.startswith("task_")
    record = project.execute_task(task.id).wait(WAIT)
    assert record.status == TaskStatus.DONE and record.result.content == "standalone"


def test_function_agent_context_carries_mission_upstream_and_memory(project):
    seen = {}
    project.put_memory("We use tabs.")

    @project.agent("w")
    def work(task, ctx):
        if task.title == "second":
            seen.update(prompt=ctx.mission_prompt, data=ctx.mission_data, upstream=ctx.upstream["first"].data,
                        memory=ctx.memory, root=ctx.project_dir)
        return {"rows": 3} if task.title == "first" else "ok"

    mission = polpo.Mission("m", prompt="Build it", data={"k": 1}).task("first", assign_to="w").task("second", assign_to="w", depends_on=["first"])
    project.execute(mission).wait(WAIT)
    assert seen == {"prompt": "Build it", "data": {"k": 1}, "upstream": {"rows": 3}, "memory": "We use tabs.",
                    "root": project.root}


def test_streamed_output_becomes_task_output_events(project, events):
    @project.agent("w")
    def work(task, ctx):
        for part in ("one", "two"):
            ctx.output(part)
        return "ok"

    project.execute(polpo.Mission("m").task("a", assign_to="w")).wait(WAIT)
    assert [d["text"] for d in events.of("task:output")] == ["one", "two"]


def test_unknown_agent_is_refused_before_anything_is_written(project):
    with pytest.raises(SpecError) as info:
        project.save_mission(polpo.Mission("m").task("a", assign_to="nobody"))
    assert info.value.errors[0]["loc"] == ["tasks", 0, "assignTo"]
    assert project.list_missions() == [] and project.list_tasks() == []


def test_llm_agent_without_runtime_fails_at_execute_with_clear_error(project, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    mission = polpo.Mission.model_validate({
        "name": "m", "tasks": [{"title": "a", "assignTo": "llm"}],
        "team": {"agents": [{"name": "llm", "model": "anthropic/claude-sonnet-4-5"}]},
    })
    with pytest.raises(polpo.PolpoError) as info:
        project.execute(mission)
    assert "@project.agent('llm')" in info.value.message and "ANTHROPIC_API_KEY" in info.value.message
    assert project.get_mission("m").status == MissionStatus.DRAFT


def test_mission_names_are_unique(project):
    project.agent("w")(ok)
    project.save_mission(polpo.Mission("same").task("a", assign_to="w"))
    with pytest.raises(ConflictError):
        project.save_mission(polpo.Mission("same").task("b", assign_to="w"))
    assert len(project.list_missions()) == 1 and len(project.list_tasks()) == 1


def test_running_mission_and_task_cannot_be_deleted(project):
    started = threading.Event()

    @project.agent("slow")
    async def slow(task, ctx):
        started.set()
        await asyncio.sleep(60)

    project.execute(polpo.Mission("m").task("a", assign_to="slow"))
    assert started.wait(WAIT)
    with pytest.raises(ConflictError):
        project.delete_mission("m")
    with pytest.raises(ConflictError):
        project.delete_task(project.get_mission("m").tasks[0].id)
    project.abort("m")
    project.delete_mission("m")
    assert project.list_tasks() == []


def test_executing_a_running_mission_again_is_refused(project):
    gate = threading.Event()
    project.agent("w")(lambda task, ctx: gate.wait(WAIT) and "ok")
    run = project.execute(polpo.Mission("m").task("a", assign_to="w"))
    with pytest.raises(ConflictError):
        project.execute("m")
    gate.set()
    run.wait(WAIT)


def test_re_executing_a_finished_mission_starts_afresh(project):
    project.agent("w")(ok)
    project.execute(polpo.Mission("m").task("a", assign_to="w")).wait(WAIT)
    record = project.execute("m").wait(WAIT)
    assert record.execution_count == 2 and record.status == MissionStatus.COMPLETED
    assert len(project.attempts(record.tasks[0].id)) == 2


def test_task_added_to_running_mission_is_scheduled(project):
    gate = threading.Event()
    project.agent("w")(lambda task, ctx: gate.wait(WAIT) and "ok")
    run = project.execute(polpo.Mission("m").task("a", assign_to="w"))
    added = project.add_mission_task("m", {"title": "b", "assignTo": "w", "dependsOn": ["a"]})
    assert added.status == TaskStatus.PENDING
    gate.set()
    record = run.wait(WAIT)
    assert record.status == MissionStatus.COMPLETED and len(record.tasks) == 2


async def test_await_run_works_from_another_event_loop(project):
    project.agent("w")(ok)
    run = await project.aio.execute_mission(polpo.Mission("m").task("a", assign_to="w"))
    record = await run
    assert record.status == MissionStatus.COMPLETED
    assert [t.title for t in await project.aio.list_tasks()] == ["a"]


def test_memory_get_put_append(project, events):
    assert project.get_memory() == ""
    project.put_memory("# Memory\n")
    project.append_memory("- fact one")
    assert project.get_memory() == "# Memory\n- fact one"
    assert (project.root / ".polpo" / "memory.md").read_text() == "# Memory\n- fact one"
    assert len(events.of("memory:updated")) == 2


def test_state_snapshot_lists_everything(project):
    project.agent("w")(ok)
    project.execute(polpo.Mission("m").task("a", assign_to="w")).wait(WAIT)
    state = project.state().to_wire()
    assert state["project"]["id"] == "proj"
    assert [t["title"] for t in state["tasks"]] == ["a"]
    assert state["missions"][0]["name"] == "m" and state["missions"][0]["taskCount"] == 1
    assert state["lastEventId"].startswith("evt_")


def test_blocking_call_on_the_engine_loop_is_refused_with_guidance(project):
    @project.agent("w")
    async def work(task, ctx):
        project.list_tasks()  # wrong: blocking on the loop that must serve it

    record = project.execute(polpo.Mission("m").task("a", assign_to="w", max_retries=0)).wait(WAIT)
    assert "await project.aio" in record.tasks[0].result.error


def test_delay_holds_blocked_tasks_then_resumes_by_itself(project, events):
    started: list[str] = []
    project.agent("w")(lambda task, ctx: started.append(task.title) or "ok")
    mission = (polpo.Mission("cooling").task("deploy", assign_to="w").task("verify", assign_to="w", depends_on=["deploy"])
               .delay("let it settle", after=["deploy"], blocks=["verify"], duration="PT0.3S"))
    record = project.execute(mission).wait(WAIT)  # waits through the delay: no human is needed
    assert record.status == MissionStatus.COMPLETED and started == ["deploy", "verify"]
    names = events.names()
    assert names.index("delay:started") < names.index("delay:elapsed")
    verify_start = next(i for i, e in enumerate(events.events) if e.event == "agent:spawned" and e.data["taskId"] == record.tasks[1].id)
    assert verify_start > names.index("delay:elapsed")


def test_invalid_delay_duration_is_refused():
    with pytest.raises(SpecError) as info:
        polpo.Mission("m").task("a", assign_to="w").task("b", assign_to="w").delay("d", ["a"], ["b"], "two hours")
    assert info.value.errors[0]["loc"][:2] == ["delays", 0]


def test_a_volatile_team_agent_stands_in_for_a_project_agent_of_its_name_and_leaves_it_as_it_was(project):
    """The team's agent plays its mission's tasks; the project's agent of that name is neither replaced
    nor deleted when the volatile team goes (it was: `INSERT OR REPLACE` took its row, the release deleted it)."""
    (project.root / "team_mod.py").write_text("def permanent(task, ctx):\n    return 'permanent'\n"
                                              "def temporary(task, ctx):\n    return 'temporary'\n")
    project.add_agent({"name": "writer", "handler": "team_mod:permanent", "role": "the project's writer"})
    record = project.execute({"name": "tmp", "team": {"name": "crew", "volatile": True,
                                                       "agents": [{"name": "writer", "handler": "team_mod:temporary"}]},
                              "tasks": [{"title": "T", "assignTo": "writer"}]}).wait(WAIT)
    assert record.status == MissionStatus.COMPLETED and record.tasks[0].result.content == "temporary"
    assert [(a.name, a.handler) for a in project.list_agents()] == [("writer", "team_mod:permanent")]
    later = project.execute({"name": "later", "tasks": [{"title": "U", "assignTo": "writer"}]}).wait(WAIT)
    assert later.status == MissionStatus.COMPLETED and later.tasks[0].result.content == "permanent"


def _store_dependencies_as_an_earlier_version_did(project_dir, title: str, depends_on: list[str]) -> None:
    """Rewrite a stored task's `dependsOn` behind the library's back: earlier versions stored a task
    depending on itself, which validation refuses now but reading must still take."""
    import sqlite3

    with sqlite3.connect(project_dir / ".polpo" / "state.db") as db:
        for task_id, doc in db.execute("SELECT id, doc FROM tasks").fetchall():
            data = json.loads(doc)
            if data["title"] == title:
                db.execute("UPDATE tasks SET doc = ? WHERE id = ?", (json.dumps({**data, "dependsOn": depends_on}), task_id))


def test_a_stored_task_that_depends_on_itself_runs_instead_of_waiting_for_ever(project_dir):
    """A run counted the task itself among its unmet dependencies: the standalone task stayed pending
    (its `wait` timed out saying it "keeps running"), and the mission settled `active` with the task
    pending, both for ever. A task cannot wait for itself: that edge means nothing, the others hold."""
    with polpo.Project(project_dir) as project:
        project.agent("w")(ok)
        solo = project.create_task({"title": "solo", "assignTo": "w"})
        project.save_mission({"name": "m", "tasks": [{"title": "a", "assignTo": "w"},
                                                     {"title": "b", "assignTo": "w", "dependsOn": ["a"]}]})
    _store_dependencies_as_an_earlier_version_did(project_dir, "solo", ["solo"])
    _store_dependencies_as_an_earlier_version_did(project_dir, "b", ["a", "b"])
    with polpo.Project(project_dir) as project:
        project.agent("w")(ok)
        assert project.get_task(solo.id).depends_on == ["solo"]  # read as stored
        assert project.execute_task(solo.id).wait(WAIT).status == TaskStatus.DONE
        order: list[str] = []
        project.subscribe(lambda e: order.append(e.data["title"]) if e.data.get("to") == "in_progress" else None,
                          "task:transition")
        record = project.execute("m").wait(WAIT)
        assert record.status == MissionStatus.COMPLETED and [t.status for t in record.tasks] == [TaskStatus.DONE] * 2
        assert order == ["a", "b"]  # b still waited for a
