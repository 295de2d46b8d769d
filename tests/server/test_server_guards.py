"""Lifecycle guards and agent handlers over HTTP, in both dialects: refusals are 409/400 in words."""

from __future__ import annotations

from pathlib import Path

from server_helpers import Api

from polpo_nb import AsyncProject


async def test_retry_of_a_draft_task_is_409_and_it_stays_draft(api: Api, project: AsyncProject):
    project.agent("w")(lambda task, ctx: "ok")
    task = await api.call("POST", "tasks", 201, json={"title": "x", "assignTo": "w"})
    body = api.error(await api.request("POST", f"tasks/{task['id']}/retry"), 409)
    assert "draft" in body["error"] and "only a failed task can be retried" in body["error"]
    assert (await api.get(f"tasks/{task['id']}"))["status"] == "draft"


async def test_reassess_of_a_task_whose_agent_raised_is_409(api: Api, project: AsyncProject):
    def broken(task, ctx):
        raise RuntimeError("no result")
    project.agent("w")(broken)
    task = await api.call("POST", "tasks", 201, json={"title": "x", "assignTo": "w", "maxRetries": 0})
    events = await api.stream("POST", f"tasks/{task['id']}/execute")
    assert events[-1][1]["status"] == "failed"
    body = api.error(await api.request("POST", f"tasks/{task['id']}/reassess"), 409)
    assert "no result to assess" in body["error"]
    assert (await api.get(f"tasks/{task['id']}"))["status"] == "failed"


async def test_an_agent_with_a_standard_library_handler_is_400(api: Api):
    body = api.error(await api.request("POST", "agents", json={"name": "sh", "handler": "os:system"}), 400)
    assert body["errors"][0]["loc"] == ["handler"] and "os:system" in body["error"]
    assert [a for a in await api.get("agents") if a["name"] == "sh"] == []


async def test_an_agent_with_a_handler_of_the_project_is_201(api: Api, root_dir: Path):
    (root_dir / "crew_over_http.py").write_text("def work(task, ctx):\n    return 'ok'\n")
    agent = await api.call("POST", "agents", 201, json={"name": "crew", "handler": "crew_over_http:work"})
    assert agent["handler"] == "crew_over_http:work"
