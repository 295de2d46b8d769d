"""The execute streams of seeds 002 and 004: the seed's event names, closed after done / mission:done,
or after the pause when a mission settles waiting for a human."""

from __future__ import annotations

import asyncio

from server_helpers import WAIT, Api, until

from polpo_nb import AsyncProject

SSE = {"Accept": "text/event-stream"}


def _names(events) -> list[str]:
    return [name for name, _, _ in events]


def _work(project: AsyncProject) -> None:
    @project.agent("w")
    def work(task, ctx):
        ctx.output(f"writing {task.title}")
        ctx.tool_use("write_file", {"path": "out.md"}, "wrote 12 bytes")
        return f"did {task.title}"

    project.judge(lambda expectation, task, result: (4.0, "good"))


async def test_task_stream_uses_the_seed_event_names_and_ends_with_done(api: Api, project: AsyncProject):
    _work(project)
    task = await api.call("POST", "tasks", 201, json={"title": "Write", "assignTo": "w",
                                                       "expectations": [{"criterion": "clear"}]})
    events = await api.stream("POST", f"tasks/{task['id']}/execute", headers=SSE)
    names = _names(events)
    assert set(names) <= {"status", "phase", "output", "tool_use", "assessment", "done", "error"}
    assert names[-1] == "done" and names.count("done") == 1
    statuses = [d["status"] for n, d, _ in events if n == "status"]
    assert statuses == ["pending", "assigned", "in_progress", "review", "done"]
    phases = [d["phase"] for n, d, _ in events if n == "phase"]
    assert phases == ["execution", "review"]
    output = next(d for n, d, _ in events if n == "output")
    assert output["text"] == "writing Write" and output["taskId"] == task["id"]
    tool = next(d for n, d, _ in events if n == "tool_use")
    assert tool["tool"] == "write_file"
    assessment = next(d for n, d, _ in events if n == "assessment")
    assert assessment["score"] == 4.0 and assessment["passed"] is True
    done = events[-1][1]
    assert done["id"] == task["id"] and done["status"] == "done" and done["result"]["content"] == "did Write"
    assert all(i and i.startswith("evt_") for _, _, i in events[:-1])  # library events keep their ids


async def test_task_stream_reports_the_fix_phase(api: Api, project: AsyncProject):
    @project.agent("w")
    def work(task, ctx):
        return "v2" if ctx.feedback else "v1"

    project.judge(lambda e, t, r: (5, "ok") if r.content == "v2" else (2, "add a section"))
    task = await api.call("POST", "tasks", 201, json={"title": "Draft", "assignTo": "w", "expectations": ["complete"]})
    events = await api.stream("POST", f"tasks/{task['id']}/execute", headers=SSE)
    phases = [d["phase"] for n, d, _ in events if n == "phase"]
    assert phases == ["execution", "review", "fix", "review"]
    fix = next(d for n, d, _ in events if n == "phase" and d["phase"] == "fix")
    assert "add a section" in fix["feedback"]
    assert events[-1][1]["status"] == "done"


async def test_failing_attempts_are_error_events_and_done_says_failed(api: Api, project: AsyncProject):
    @project.agent("boom")
    def boom(task, ctx):
        raise ValueError("disk full")

    task = await api.call("POST", "tasks", 201, json={"title": "X", "assignTo": "boom", "maxRetries": 1})
    events = await api.stream("POST", f"tasks/{task['id']}/execute")  # no Accept: SSE by default
    errors = [d for n, d, _ in events if n == "error"]
    assert len(errors) == 2 and "disk full" in errors[0]["error"]
    assert _names(events)[-1] == "done" and events[-1][1]["status"] == "failed"


async def test_execute_answers_json_when_only_json_is_accepted(api: Api, project: AsyncProject):
    _work(project)
    task = await api.call("POST", "tasks", 201, json={"title": "Quick", "assignTo": "w"})
    started = await api.call("POST", f"tasks/{task['id']}/execute", headers={"Accept": "application/json"})
    assert started["id"] == task["id"] and started["status"] in ("pending", "assigned", "in_progress", "review", "done")
    await until(lambda: _status_is(api, f"tasks/{task['id']}", "done"))


async def _status_is(api: Api, path: str, status: str) -> bool:
    return (await api.get(path))["status"] == status


async def test_execute_errors_before_the_stream_are_plain_http_errors(api: Api, project: AsyncProject):
    api.error(await api.request("POST", "tasks/task_nope/execute", headers=SSE), 404)
    await api.call("POST", "agents", 201, json={"name": "modelless"})
    task = await api.call("POST", "tasks", 201, json={"title": "t", "assignTo": "modelless"})
    body = api.error(await api.request("POST", f"tasks/{task['id']}/execute", headers=SSE), 400)
    assert "modelless" in body["error"]


async def test_mission_stream_uses_the_seed_event_names_and_ends_with_mission_done(api: Api, project: AsyncProject):
    _work(project)
    mission = await api.call("POST", "missions", 201, json={
        "name": "two", "tasks": [{"title": "a", "assignTo": "w", "expectations": ["ok"]},
                                 {"title": "b", "assignTo": "w", "dependsOn": ["a"]}]})
    events = await api.stream("POST", f"missions/{mission['id']}/execute", headers=SSE)
    names = _names(events)
    assert set(names) <= {"mission:status", "task:status", "task:output", "task:assessment", "gate:blocked",
                          "checkpoint:waiting", "mission:done", "error"}
    first = next(d for n, d, _ in events if n == "mission:status")
    assert first["status"] == "active" and first["missionId"] == mission["id"]
    assert names[-1] == "mission:done" and names.count("mission:done") == 1
    final = events[-1][1]
    assert final["id"] == mission["id"] and final["status"] == "completed"
    assert [t["status"] for t in final["tasks"]] == ["done", "done"]
    assert [d["status"] for n, d, _ in events if n == "mission:status"] == ["active", "completed"]
    assert len([d for n, d, _ in events if n == "task:status" and d["status"] == "done"]) == 2
    assert [d["text"] for n, d, _ in events if n == "task:output"] == ["writing a", "writing b"]
    assert [n for n in names if n == "task:assessment"] == ["task:assessment", "task:assessment"]


async def test_mission_stream_closes_on_a_checkpoint_with_the_pause(api: Api, project: AsyncProject):
    _work(project)
    mission = await api.call("POST", "missions", 201, json={
        "name": "cp", "tasks": [{"title": "draft", "assignTo": "w"}, {"title": "publish", "assignTo": "w", "dependsOn": ["draft"]}],
        "checkpoints": [{"name": "review", "afterTasks": ["draft"], "message": "Read the draft"}]})
    events = await api.stream("POST", f"missions/{mission['id']}/execute", headers=SSE)
    waiting = next(d for n, d, _ in events if n == "checkpoint:waiting")
    assert waiting["checkpoint"] == "review" and waiting["message"] == "Read the draft"
    name, last, _ = events[-1]
    assert name == "mission:status" and last["status"] == "paused" and last["pauseReason"] == "checkpoint"
    assert last["pauseMessage"] == "Read the draft" and last["settled"] is True
    # resume, streaming this time (resume streams only when asked to)
    resumed = await api.stream("POST", f"missions/{mission['id']}/resume", headers=SSE, json={})
    assert _names(resumed)[-1] == "mission:done" and resumed[-1][1]["status"] == "completed"
    assert [d["status"] for n, d, _ in resumed if n == "mission:status"] == ["active", "completed"]


async def test_mission_stream_reports_a_blocked_gate(api: Api, project: AsyncProject):
    _work(project)
    project.judge(lambda e, t, r: 3.5)
    mission = await api.call("POST", "missions", 201, json={
        "name": "gated", "tasks": [{"title": "build", "assignTo": "w", "expectations": ["solid"]},
                                   {"title": "ship", "assignTo": "w"}],
        "qualityGates": [{"afterTasks": ["build"], "blocksTasks": ["ship"], "minScore": 4.0}]})
    events = await api.stream("POST", f"missions/{mission['id']}/execute", headers=SSE)
    blocked = next(d for n, d, _ in events if n == "gate:blocked")
    assert blocked["blocksTasks"] == ["ship"]
    assert events[-1][0] == "mission:status" and events[-1][1]["pauseReason"] == "gate"


async def test_mission_waiting_for_approval_settles_with_mission_status(api: Api, project: AsyncProject):
    _work(project)
    mission = await api.call("POST", "missions", 201, json={
        "name": "deploy", "tasks": [{"title": "deploy", "assignTo": "w", "sideEffects": True}]})
    events = await api.stream("POST", f"missions/{mission['id']}/execute", headers=SSE)
    name, last, _ = events[-1]
    deploy = mission["tasks"][0]["id"]
    assert name == "mission:status" and last["status"] == "active" and last["awaitingApproval"] == [deploy]
    assert last["pauseReason"] == "approval"
    await api.call("POST", f"tasks/{deploy}/approve")
    await until(lambda: _status_is(api, f"missions/{mission['id']}", "completed"))


async def test_resume_with_retry_failed_reruns_failed_tasks(api: Api, project: AsyncProject):
    calls = {"n": 0}

    @project.agent("flaky")
    def flaky(task, ctx):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("first time fails")
        return "ok"

    mission = await api.call("POST", "missions", 201, json={
        "name": "flaky", "tasks": [{"title": "t", "assignTo": "flaky", "maxRetries": 0}]})
    events = await api.stream("POST", f"missions/{mission['id']}/execute")
    assert events[-1][1]["status"] == "failed"
    api.error(await api.request("POST", f"missions/{mission['id']}/resume", json={}), 409)
    resumed = await api.call("POST", f"missions/{mission['id']}/resume", json={"retryFailed": True})
    assert resumed["status"] == "active"
    await until(lambda: _status_is(api, f"missions/{mission['id']}", "completed"))
    assert calls["n"] == 2


async def test_a_client_leaving_an_execute_stream_does_not_stop_the_run(api: Api, project: AsyncProject):
    release = asyncio.Event()

    @project.agent("slow")
    async def slow(task, ctx):
        await release.wait()
        return "finished anyway"

    before = project.bus.subscriber_count
    task = await api.call("POST", "tasks", 201, json={"title": "long", "assignTo": "slow"})
    async with asyncio.timeout(WAIT), api.client.stream("POST", api.url(f"tasks/{task['id']}/execute"), headers=SSE) as r:
        async for line in r.aiter_lines():
            if "in_progress" in line:
                break  # leave mid-run
    await until(lambda: _subscribers(project, before))
    release.set()
    await until(lambda: _status_is(api, f"tasks/{task['id']}", "done"))


async def _subscribers(project: AsyncProject, n: int) -> bool:
    return project.bus.subscriber_count == n
