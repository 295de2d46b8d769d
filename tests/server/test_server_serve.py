"""`polpo serve` as a real subprocess: routes at `/`, Bearer key auth, and the curl examples of seeds
002-004 replayed as HTTP requests, answering the documented shapes.

The project directory holds the agents' code (`team_agents.py`, found through `handler:`) and a config
whose judge is pydantic-ai's offline `test` model; the seed mission's LLM team (`anthropic/...`) talks
to a loopback OpenAI-compatible server through the project's `providers`, so nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse
from server_helpers import WAIT, Api, free_port, start_serve, stop_serve, until
from tour import every_route
from websockets.asyncio.client import connect

from polpo_nb.testing import LoopbackOpenAI, text
from polpo_server.dialects import DIALECTS
from polpo_server.routes import ROUTES

KEY = "sk_test_abc123"
AUTH = {"Authorization": f"Bearer {KEY}"}

AGENTS = '''
"""Function agents of the served project, addressed as `handler: team_agents:<name>`."""


def backend_dev(task, ctx):
    ctx.output(f"working on {task.title}")
    created = []
    for outcome in task.expected_outcomes:
        if outcome.path:
            target = ctx.project_dir / outcome.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("// written by backend-dev\\n")
            created.append(outcome.path)
    return {"content": f"Implemented {task.title}", "filesCreated": created}


def deploy_agent(task, ctx):
    return f"Deployed: {task.title}"
'''


@dataclass
class Served:
    url: str
    root: Path
    proc: subprocess.Popen
    log: Path
    loopback: LoopbackOpenAI

    def client(self, **kw: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, headers=kw.pop("headers", AUTH), timeout=WAIT, **kw)


def _review(body: dict) -> dict:
    return text("Reviewed: no critical issues; approve.")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("serve") / "my-project"
    root.mkdir()
    (root / "team_agents.py").write_text(AGENTS)
    loopback = LoopbackOpenAI(_review).start()
    (root / "polpo.json").write_text(json.dumps({
        "judgeModel": "test", "providers": {"anthropic": {"baseUrl": loopback.base_url}}}))
    port = free_port()
    log = root.parent / "serve.log"
    try:
        proc = start_serve(root, port=port, key=KEY, log=log)
    except BaseException:
        loopback.stop()
        raise
    url = f"http://127.0.0.1:{port}/"
    served = Served(url, root, proc, log, loopback)
    yield served
    try:
        code = stop_serve(proc)
    finally:
        loopback.stop()
    assert code == 0, log.read_text()


def _has_shape(actual: Any, documented: Any, path: str = "") -> None:
    """Every key of the seed's example is there, with a value of the same JSON type."""
    if isinstance(documented, dict):
        assert isinstance(actual, dict), (path, actual)
        for key, value in documented.items():
            assert key in actual, f"{path}.{key} missing from {sorted(actual)}"
            _has_shape(actual[key], value, f"{path}.{key}")
    elif isinstance(documented, list):
        assert isinstance(actual, list) and len(actual) >= len(documented), (path, actual)
        for i, (got, item) in enumerate(zip(actual, documented, strict=False)):
            _has_shape(got, item, f"{path}[{i}]")
    elif documented is None:
        return
    else:
        kinds = (int, float) if isinstance(documented, int | float) and not isinstance(documented, bool) else type(documented)
        assert isinstance(actual, kinds), (path, actual, documented)


SEED_TASK = {"id": "task_abc123", "title": "Implement user auth", "description": "Add JWT...", "assignTo": "backend-dev",
             "status": "draft", "phase": None, "priority": 10, "retries": 0, "maxRetries": 3, "sideEffects": False}


# -- the server itself ------------------------------------------------------------------------------------

async def test_routes_are_at_the_root_as_seed_000_prints_them(served: Served):
    async with served.client() as client:
        projects = (await client.get("api/v1/projects")).json()
        assert projects == {"ok": True, "data": [{"id": "my-project", "name": "my-project", "path": "."}]}
        assert (await client.get("api/v1/projects/my-project/state")).json()["data"]["project"]["id"] == "my-project"
        config = (await client.get("api/v1/projects/my-project/config")).json()["data"]
        assert config["judgeModel"] == "test"
        assert (await client.get("v1/tasks")).status_code == 200
        assert (await client.get("polpo/v1/tasks")).status_code == 404  # no prefix in serve


TOUR_AGENTS = '''
"""The tour's agents (see tests/server/tour.py), addressed as `handler: tour_agents:<name>`."""
import asyncio


def w(task, ctx):
    ctx.log(f"working on {task.title}")
    ctx.output(f"out:{task.title}")
    (ctx.output_dir / "report.md").write_text(f"# {task.title}\\n")
    return {"content": f"did {task.title}", "filesCreated": [".polpo/output/report.md"]}


def boom(task, ctx):
    raise RuntimeError("agent exploded")


async def gated(task, ctx):
    while True:  # until killed or aborted
        await asyncio.sleep(0.05)
'''


@pytest.mark.parametrize("dialect", ["project", "flat"])
async def test_every_route_in_both_dialects(tmp_path: Path, dialect: str):
    """The same tour as on the Jupyter server (test_server_routes.py), on a fresh `polpo serve`."""
    root = tmp_path / "tour"
    root.mkdir()
    (root / "tour_agents.py").write_text(TOUR_AGENTS)
    (root / "polpo.json").write_text(json.dumps({"judgeModel": "test"}))
    port = free_port()
    log = tmp_path / "serve.log"
    proc = await asyncio.to_thread(start_serve, root, port=port, key=KEY, log=log)
    try:
        url = f"http://127.0.0.1:{port}/"
        async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=WAIT) as client:
            api = Api(client, dialect, project_id="tour")
            for name in ("w", "boom", "gated"):
                await api.call("POST", "agents", 201, json={"name": name, "handler": f"tour_agents:{name}"})
            await every_route(api, url.replace("http", "ws"), AUTH)
    finally:
        code = await asyncio.to_thread(stop_serve, proc)
    assert code == 0, log.read_text()


def _code(body: dict) -> str:
    """The error code, in the dialects' shape or in OpenAI's (`{error: {message, code}}`, chat completions)."""
    return body["error"]["code"] if isinstance(body.get("error"), dict) else body["code"]


async def test_every_route_needs_the_key(served: Served):
    checked = 0
    async with served.client(headers={}) as anon, served.client(headers={"Authorization": "Bearer wrong"}) as wrong:
        for dialect in DIALECTS:
            for route in ROUTES:
                path = dialect.mount(route.scope, route.path).replace("{projectId}", "my-project")
                path = path.replace("{taskId}", "t").replace("{missionId}", "m").replace("{name}", "n")
                path = path.replace("{sessionId}", "s")
                response = await anon.request(route.method, path, json={})
                if route.path == "health":
                    body = response.json()
                    assert response.status_code == 200 and body in ({"status": "ok"}, {"ok": True, "data": {"status": "ok"}})
                    continue
                assert response.status_code == 401, (route.method, path, response.status_code)
                assert _code(response.json()) in ("UNAUTHORIZED", "unauthorized")
                bad = await wrong.request(route.method, path, json={})
                assert bad.status_code == 401 and _code(bad.json()) in ("INVALID_API_KEY", "invalid_api_key")
                checked += 1
    assert checked == 2 * (len(ROUTES) - 1)


async def test_jupyter_services_are_not_served(served: Served):
    async with served.client() as client:
        for path in ("api/kernels", "api/contents", "api/terminals", "files/polpo.json", "tree", "login"):
            response = await client.get(path)
            assert response.status_code == 404, (path, response.status_code)


async def test_websocket_and_query_token_for_browser_clients(served: Served):
    ws_url = served.url.replace("http", "ws") + "api/v1/projects/my-project/ws"
    async with served.client() as client, asyncio.timeout(WAIT):
        async with connect(ws_url, additional_headers=AUTH) as ws:
            await ws.send(json.dumps({"type": "subscribe", "pattern": "agent:*"}))
            assert json.loads(await ws.recv())["type"] == "subscribed"
            await client.post("v1/agents", json={"name": "ws-probe"})
            message = json.loads(await ws.recv())
            assert message["event"] == "agent:added" and message["data"]["agentName"] == "ws-probe"
        async with connect(ws_url + f"?token={KEY}") as ws:  # EventSource / WebSocket cannot send headers
            await ws.send(json.dumps({"type": "ping"}))
            assert json.loads(await ws.recv()) == {"type": "pong"}
        await client.delete("v1/agents/ws-probe")


# -- seed 002: tasks ---------------------------------------------------------------------------------------

async def test_seed_002_task_examples(served: Served):
    async with served.client() as client:
        agent = await client.post("v1/agents", json={"name": "backend-dev", "role": "Backend engineer",
                                                     "handler": "team_agents:backend_dev"})
        assert agent.status_code == 201
        created = await client.post("v1/tasks", json={
            "title": "Implement user auth",
            "description": "Add JWT-based authentication to the Express server. Create login and register endpoints, "
                           "middleware for protected routes, and token refresh logic.",
            "assignTo": "backend-dev", "maxRetries": 3, "priority": 10, "sideEffects": False,
            "expectations": [{"criterion": "All auth endpoints return correct status codes"},
                             {"criterion": "JWT tokens are signed and verified correctly"},
                             {"criterion": "Protected routes reject unauthenticated requests"}],
            "expectedOutcomes": [{"type": "file", "path": "src/server/auth.ts"},
                                 {"type": "file", "path": "src/server/middleware/auth.ts"}]})
        assert created.status_code == 201
        task = created.json()
        _has_shape(task, SEED_TASK)
        assert task["status"] == "draft" and task["phase"] is None and task["priority"] == 10

        listed = (await client.get("v1/tasks", params={"status": "in_progress", "assignTo": "backend-dev"})).json()
        assert listed == []
        listed = (await client.get("v1/tasks", params={"status": "draft", "assignTo": "backend-dev"})).json()
        _has_shape(listed, [SEED_TASK])

        patched = (await client.patch(f"v1/tasks/{task['id']}", json={"priority": 20, "maxRetries": 5})).json()
        assert (patched["priority"], patched["maxRetries"]) == (20, 5)

        for action in ("kill", "reassess"):  # not running, no result yet: conflicts in the seed-001 error shape
            refused = await client.post(f"v1/tasks/{task['id']}/{action}")
            assert refused.status_code == 409 and set(refused.json()) == {"error", "code"}
            assert refused.json()["code"] == "conflict"

        events = []
        async with aconnect_sse(client, "POST", f"v1/tasks/{task['id']}/execute",
                                headers={"Accept": "text/event-stream"}) as source:
            async for sse in source.aiter_sse():
                events.append((sse.event, json.loads(sse.data)))
        names = [n for n, _ in events]
        assert set(names) <= {"status", "phase", "output", "tool_use", "assessment", "done", "error"}
        assert names[-1] == "done"
        done = events[-1][1]
        _has_shape(done, {**SEED_TASK, "result": {"content": "", "filesCreated": ["x"]},
                          "assessment": {"score": 4.5, "passed": True, "feedback": ""}})
        assert done["status"] == "done" and done["result"]["filesCreated"] == ["src/server/auth.ts", "src/server/middleware/auth.ts"]
        assert (served.root / "src/server/middleware/auth.ts").is_file()

        fetched = (await client.get(f"v1/tasks/{task['id']}")).json()
        assert fetched["assessment"]["passed"] is True and fetched["result"]["content"] == "Implemented Implement user auth"
        reassessed = await client.post(f"v1/tasks/{task['id']}/reassess")
        assert reassessed.status_code == 200 and reassessed.json()["status"] == "done"
        assert (await client.delete(f"v1/tasks/{task['id']}")).json() == {"id": task["id"], "deleted": True}
        assert (await client.get(f"v1/tasks/{task['id']}")).json()["code"] == "not_found"


async def test_seed_002_create_and_execute_flow(served: Served):
    async with served.client() as client:
        added = await client.post("v1/agents", json={"name": "backend-dev", "handler": "team_agents:backend_dev"})
        assert added.status_code in (201, 409)  # another test of this server may have added it
        task = (await client.post("v1/tasks", json={
            "title": "Write unit tests",
            "description": "Write Jest unit tests for the auth module at src/server/auth.ts.",
            "assignTo": "backend-dev", "maxRetries": 2,
            "expectations": [{"criterion": "Tests cover all three endpoints"}, {"criterion": "Tests pass when run with npm test"}],
            "expectedOutcomes": [{"type": "file", "path": "tests/auth.test.ts"}]})).json()
        lines = []
        async with client.stream("POST", f"v1/tasks/{task['id']}/execute", headers={"Accept": "text/event-stream"}) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            async for line in r.aiter_lines():
                lines.append(line)
        assert "event: done" in lines and any(line.startswith("event: assessment") for line in lines)
        assert any(line.startswith("id: evt_") for line in lines)
        retry = await client.post(f"v1/tasks/{task['id']}/retry")  # done, not failed
        assert retry.status_code == 409 and retry.json()["code"] == "conflict"


# -- seed 003: events --------------------------------------------------------------------------------------

async def test_seed_003_event_stream_examples(served: Served):
    async with served.client() as client:
        await client.post("v1/agents", json={"name": "probe-1"})
        seen = []
        async with asyncio.timeout(WAIT), aconnect_sse(client, "GET", "v1/events", params={"filter": "task:*,agent:*"},
                                                       headers={"Accept": "text/event-stream", "Last-Event-ID": "evt_00000"}) as source:
            async for sse in source.aiter_sse():
                seen.append(sse)
                if sse.event == "agent:added" and json.loads(sse.data)["agentName"] == "probe-1":
                    break
        assert all(s.event.startswith(("task:", "agent:")) for s in seen)
        assert [int(s.id[4:]) for s in seen] == sorted(int(s.id[4:]) for s in seen)
        last = seen[-1].id
        await client.post("v1/agents", json={"name": "probe-2"})
        async with asyncio.timeout(WAIT), aconnect_sse(client, "GET", "v1/events",
                                                       headers={"Last-Event-ID": last}) as source:
            sse = await anext(source.aiter_sse())
        assert sse.event == "agent:added" and json.loads(sse.data)["agentName"] == "probe-2"
        data = json.loads(sse.data)
        assert data["timestamp"].endswith("Z")


# -- seed 004: missions ------------------------------------------------------------------------------------

DEPLOY_PIPELINE = {
    "name": "deploy-pipeline", "prompt": "Run the deployment pipeline for the backend service.", "qualityThreshold": 4.0,
    "tasks": [
        {"title": "Run tests", "description": "Execute the full test suite and report results.", "assignTo": "backend-dev",
         "maxRetries": 2, "expectations": [{"criterion": "All tests pass"}, {"criterion": "Code coverage above 80%"}]},
        {"title": "Deploy to staging", "description": "Deploy the latest build to the staging environment.",
         "assignTo": "deploy-agent", "dependsOn": ["Run tests"], "sideEffects": True},
    ],
    "team": {"name": "deploy-crew", "volatile": True, "agents": [
        {"name": "backend-dev", "role": "Run tests and validate build", "model": "anthropic/claude-sonnet-4-5"},
        {"name": "deploy-agent", "role": "Deploy services to staging and production", "model": "anthropic/claude-sonnet-4-5"}]},
    "qualityGates": [{"afterTasks": ["Run tests"], "blocksTasks": ["Deploy to staging"], "minScore": 4.0,
                      "requireAllPassed": True}],
}

CODE_REVIEW = {
    "name": "code-review-pipeline", "prompt": "Review the latest PR and provide feedback.", "qualityThreshold": 4.0,
    "tasks": [
        {"title": "Analyze code changes", "description": "Review the diff for the latest PR. Check for bugs, security "
         "issues, and style violations.", "assignTo": "code-reviewer",
         "expectations": [{"criterion": "All critical issues identified"}, {"criterion": "Feedback is actionable and specific"}]},
        {"title": "Write review summary", "description": "Compile the analysis into a structured review summary with "
         "approve/request-changes recommendation.", "assignTo": "tech-lead", "dependsOn": ["Analyze code changes"]},
    ],
    "team": {"name": "review-team", "volatile": True, "agents": [
        {"name": "code-reviewer", "role": "Senior code reviewer", "model": "anthropic/claude-sonnet-4-5"},
        {"name": "tech-lead", "role": "Technical lead who writes review summaries", "model": "anthropic/claude-sonnet-4-5"}]},
}


async def test_seed_004_mission_examples(served: Served):
    async with served.client() as client:
        created = await client.post("v1/missions", json=DEPLOY_PIPELINE)
        assert created.status_code == 201, created.text
        mission = created.json()
        _has_shape(mission, {"id": "msn_abc123", "name": "deploy-pipeline", "status": "draft", "prompt": "",
                             "qualityThreshold": 4.0, "executionCount": 0,
                             "tasks": [{"id": "task_001", "title": "Run tests", "assignTo": "backend-dev", "status": "draft"},
                                       {"id": "task_002", "title": "Deploy to staging", "assignTo": "deploy-agent",
                                        "status": "draft", "dependsOn": ["Run tests"]}]})
        assert mission["status"] == "draft" and mission["executionCount"] == 0 and mission["qualityThreshold"] == 4.0
        assert mission["tasks"][1]["dependsOn"] == ["Run tests"]
        mid = mission["id"]

        listed = (await client.get("v1/missions")).json()
        _has_shape(listed, [{"id": "msn", "name": "n", "status": "draft", "executionCount": 0, "qualityThreshold": 3.5,
                             "taskCount": 2}])
        assert (await client.get(f"v1/missions/{mid}")).json()["name"] == "deploy-pipeline"
        patched = (await client.patch(f"v1/missions/{mid}", json={"qualityThreshold": 4.5,
                                                                  "deadline": "2099-04-01T00:00:00Z"})).json()
        assert patched["qualityThreshold"] == 4.5 and patched["deadline"].startswith("2099-04-01")

        added = await client.post(f"v1/missions/{mid}/tasks", json={
            "title": "Notify team", "description": "Send a Slack notification with the deployment status.",
            "assignTo": "deploy-agent", "dependsOn": ["Deploy to staging"], "sideEffects": True})
        assert added.status_code == 201
        notify = added.json()
        assert (await client.patch(f"v1/missions/{mid}/tasks/{notify['id']}", json={"priority": 5})).json()["priority"] == 5
        assert (await client.delete(f"v1/missions/{mid}/tasks/{notify['id']}")).status_code == 200

        assert (await client.get("v1/missions/resumable")).json() == []
        resume = await client.post(f"v1/missions/{mid}/resume", json={"retryFailed": True})
        assert resume.status_code == 409 and resume.json()["code"] == "conflict"  # a draft is not resumable
        aborted = await client.post(f"v1/missions/{mid}/abort")
        assert aborted.status_code == 409  # not running
        assert (await client.delete(f"v1/missions/{mid}")).json() == {"id": mid, "deleted": True}


async def test_seed_004_create_and_execute_a_mission(served: Served):
    async with served.client() as client:
        mission = (await client.post("v1/missions", json=CODE_REVIEW)).json()
        events = []
        async with asyncio.timeout(WAIT), aconnect_sse(client, "POST", f"v1/missions/{mission['id']}/execute",
                                                       headers={"Accept": "text/event-stream"}) as source:
            async for sse in source.aiter_sse():
                events.append((sse.event, json.loads(sse.data)))
        names = [n for n, _ in events]
        assert set(names) <= {"mission:status", "task:status", "task:output", "task:assessment", "gate:blocked",
                              "checkpoint:waiting", "mission:done", "error"}, names
        assert names[-1] == "mission:done", events[-3:]
        final = events[-1][1]
        assert final["status"] == "completed" and final["executionCount"] == 1
        assert [t["result"]["content"] for t in final["tasks"]] == ["Reviewed: no critical issues; approve."] * 2
        assert "task:assessment" in names
        assert len(served.loopback.requests) >= 2  # the LLM team really ran, over HTTP
        team = {a["name"] for a in (await client.get("v1/agents")).json()}
        assert "code-reviewer" not in team  # a volatile team is gone once the mission is done


async def test_seed_004_abort_a_running_mission(served: Served):
    async with served.client() as client:
        mission = (await client.post("v1/missions", json={"name": "to-abort", "tasks": [
            {"title": "long", "assignTo": "deploy-dev"}],
            "team": {"name": "t", "agents": [{"name": "deploy-dev", "handler": "team_agents:deploy_agent"}]}})).json()
        deploy = (await client.post(f"v1/missions/{mission['id']}/tasks", json={
            "title": "ship", "assignTo": "deploy-dev", "sideEffects": True, "dependsOn": ["long"]})).json()
        started = await client.post(f"v1/missions/{mission['id']}/execute", headers={"Accept": "application/json"})
        assert started.status_code == 200 and started.json()["status"] == "active"

        async def waiting() -> bool:
            return (await client.get(f"v1/tasks/{deploy['id']}")).json()["status"] == "awaiting_approval"

        await until(waiting)
        aborted = (await client.post(f"v1/missions/{mission['id']}/abort")).json()
        assert aborted["status"] == "cancelled"
        deleted = await client.delete(f"v1/missions/{mission['id']}")
        assert deleted.status_code == 200


def test_an_open_server_on_a_public_interface_is_refused(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k != "POLPO_API_KEY"}
    out = subprocess.run([sys.executable, "-m", "polpo_nb.cli", "serve", "--host", "0.0.0.0", "--port", "0",
                          "--project", str(tmp_path)], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 2
    assert "refusing to listen on 0.0.0.0 without an API key" in out.stderr
    assert not (tmp_path / ".polpo").exists()  # refused before the project was opened
