"""Errors: field-level 400s, 404 for unknown ids, 409 for conflicts and illegal transitions, 405, and
never a traceback."""

from __future__ import annotations

import pytest
from server_helpers import Api

from polpo_nb import AsyncProject


@pytest.fixture
def agent(project: AsyncProject) -> None:
    project.agent("w")(lambda task, ctx: "ok")


async def test_invalid_body_is_a_400_naming_the_field(api: Api, agent):
    body = api.error(await api.request("POST", "tasks", json={"title": "x", "assignTo": "w", "priority": "high"}), 400)
    assert body["errors"][0]["loc"][0] == "priority"
    assert "priority" in body["error"]
    body = api.error(await api.request("POST", "tasks", json={"title": "x"}), 400)
    assert body["errors"] == [{"loc": ["assignTo"], "msg": "a task needs an agent (assignTo) or a notebook"}]


async def test_unknown_agent_is_a_400_on_assign_to(api: Api, agent):
    body = api.error(await api.request("POST", "tasks", json={"title": "x", "assignTo": "ghost"}), 400)
    assert body["errors"][0]["loc"][-1] == "assignTo" and "ghost" in body["errors"][0]["msg"]


async def test_malformed_json_and_non_object_bodies_are_400(api: Api, agent):
    body = api.error(await api.request("POST", "tasks", content=b"{not json", headers={"Content-Type": "application/json"}), 400)
    assert "invalid JSON" in body["error"]
    api.error(await api.request("POST", "tasks", json=["a", "list"]), 400)


async def test_patch_of_an_unknown_or_runtime_field_is_a_400(api: Api, agent):
    task = await api.call("POST", "tasks", 201, json={"title": "x", "assignTo": "w"})
    body = api.error(await api.request("PATCH", f"tasks/{task['id']}", json={"status": "done"}), 400)
    assert body["errors"][0]["loc"] == ["status"]
    body = api.error(await api.request("PATCH", f"tasks/{task['id']}", json={"maxRetries": -1}), 400)
    assert body["errors"][0]["loc"] == ["maxRetries"]


async def test_invalid_query_value_is_a_400(api: Api):
    body = api.error(await api.request("GET", "tasks", params={"status": "sleeping"}), 400)
    assert body["errors"][0]["loc"] == ["status"]
    body = api.error(await api.request("GET", "files/preview", params={"path": "x", "maxLines": "many"}), 400)
    assert body["errors"][0]["loc"] == ["maxLines"]


async def test_invalid_mission_graph_names_the_dependency(api: Api, agent):
    body = api.error(await api.request("POST", "missions", json={
        "name": "m", "tasks": [{"title": "a", "assignTo": "w", "dependsOn": ["nope"]}]}), 400)
    assert body["errors"][0]["loc"] == ["tasks", 0, "dependsOn", 0]


@pytest.mark.parametrize("path", ["tasks/task_missing", "missions/msn_missing", "logs/nope"])
async def test_unknown_ids_are_404(api: Api, path: str):
    body = api.error(await api.request("GET", path), 404)
    assert body["code"] in ("NOT_FOUND", "not_found")


async def test_unknown_ids_on_actions_are_404(api: Api):
    api.error(await api.request("POST", "tasks/task_missing/retry"), 404)
    api.error(await api.request("POST", "missions/msn_missing/execute"), 404)
    api.error(await api.request("DELETE", "agents/nobody"), 404)
    api.error(await api.request("PATCH", "missions/msn_missing/tasks/task_x", json={"priority": 1}), 404)


async def test_unknown_project_is_404(papi: Api):
    papi.project_id = "no-such-project"
    body = papi.error(await papi.request("GET", "tasks"), 404)
    assert "no-such-project" in body["error"]


async def test_unknown_path_under_the_api_is_a_json_404(api: Api):
    body = api.error(await api.request("GET", "nothing/here"), 404)
    assert "nothing/here" in body["error"]


async def test_duplicate_mission_name_is_409(api: Api, agent):
    mission = {"name": "twice", "tasks": [{"title": "a", "assignTo": "w"}]}
    await api.call("POST", "missions", 201, json=mission)
    body = api.error(await api.request("POST", "missions", json=mission), 409)
    assert "twice" in body["error"]


async def test_duplicate_agent_is_409(api: Api):
    await api.call("POST", "agents", 201, json={"name": "dup"})
    api.error(await api.request("POST", "agents", json={"name": "dup"}), 409)


async def test_retry_of_a_task_that_did_not_fail_is_409(api: Api, agent):
    task = await api.call("POST", "tasks", 201, json={"title": "x", "assignTo": "w"})
    events = await api.stream("POST", f"tasks/{task['id']}/execute")
    assert events[-1][1]["status"] == "done"
    body = api.error(await api.request("POST", f"tasks/{task['id']}/retry"), 409)
    assert task["id"] in body["error"] and "done" in body["error"]


async def test_approve_of_a_task_not_awaiting_approval_is_409(api: Api, agent):
    task = await api.call("POST", "tasks", 201, json={"title": "x", "assignTo": "w"})
    api.error(await api.request("POST", f"tasks/{task['id']}/approve"), 409)


async def test_delete_of_a_running_mission_is_409(api: Api, project: AsyncProject):
    import asyncio

    release = asyncio.Event()

    @project.agent("slow")
    async def slow(task, ctx):
        await release.wait()
        return "ok"

    mission = await api.call("POST", "missions", 201, json={"name": "busy", "tasks": [{"title": "t", "assignTo": "slow"}]})
    await api.call("POST", f"missions/{mission['id']}/execute", headers={"Accept": "application/json"})
    body = api.error(await api.request("DELETE", f"missions/{mission['id']}"), 409)
    assert "abort" in body["error"]
    api.error(await api.request("POST", f"missions/{mission['id']}/execute", headers={"Accept": "application/json"}), 409)
    await api.call("POST", f"missions/{mission['id']}/abort")
    release.set()


async def test_wrong_method_is_405_with_allow(api: Api):
    response = await api.request("DELETE", "tasks")
    body = api.error(response, 405)
    assert response.headers["Allow"] == "GET, POST"
    assert body["code"] in ("METHOD_NOT_ALLOWED", "method_not_allowed")
    api.error(await api.request("PUT", "missions/resumable"), 405)


async def test_internal_errors_are_a_generic_500_without_traceback(api: Api, project: AsyncProject, monkeypatch):
    async def broken(**kwargs):
        raise RuntimeError("secret internals /etc/passwd")

    monkeypatch.setattr(project, "list_agents", broken)
    response = await api.request("GET", "agents")
    body = api.error(response, 500)
    assert body["error"] == "Internal server error"
    assert "secret" not in response.text and "Traceback" not in response.text
    assert body["code"] in ("INTERNAL", "internal_error")
