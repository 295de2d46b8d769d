"""Project API keys and rate limits (issue 20) on a real `polpo serve` over three projects, and on Jupyter.

`alpha` is the served directory (the default project, the flat dialect's), `beta` and `gamma` are
projects below it; `gamma`'s config sets tight rate limits. The LLM agents of `alpha` talk to a loopback
OpenAI-compatible server, so a dry run (a test key) can be seen to leave it alone.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse
from server_helpers import WAIT, free_port, start_serve, stop_serve, until
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from polpo_nb.project.keys import ApiKeys
from polpo_nb.testing import LoopbackOpenAI, text

ADMIN = "polpo-admin-key"
LLM = "anthropic:claude-sonnet-4-5"
POLPO = [sys.executable, "-m", "polpo_nb.cli"]


@dataclass
class Served:
    url: str
    root: Path
    log: Path
    loopback: LoopbackOpenAI
    keys: dict[str, str]  # name -> key text

    def client(self, key: str | None = None, **kw: Any) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=WAIT, **kw)


def _project(root: Path, config: dict[str, Any]) -> ApiKeys:
    root.mkdir(parents=True, exist_ok=True)
    (root / "polpo.json").write_text(json.dumps(config))
    return ApiKeys(root)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("keys")
    loopback = LoopbackOpenAI(lambda body: text("Done, and it looks right.")).start()
    alpha = base / "alpha"
    providers = {"anthropic": {"baseUrl": loopback.base_url}}
    keys = {}
    ring = _project(alpha, {"providers": providers, "judgeModel": LLM, "defaultModel": LLM, "orchestratorModel": LLM})
    keys["alpha"] = ring.create("alpha-ci").key
    keys["alpha-test"] = ring.create("alpha-sandbox", kind="test").key
    keys["beta"] = _project(alpha / "beta", {"rateLimits": {"concurrentStreams": 1}}).create("beta-ci").key
    keys["gamma"] = _project(alpha / "gamma", {"rateLimits": {"requestsPerMinute": 20}}).create("gamma-ci").key
    log = base / "serve.log"
    port = free_port()
    try:
        proc = start_serve(alpha, port=port, key=ADMIN, log=log)
    except BaseException:
        loopback.stop()
        raise
    try:
        yield Served(f"http://127.0.0.1:{port}/", alpha, log, loopback, keys)
    finally:
        code = stop_serve(proc)
        loopback.stop()
    assert code == 0, log.read_text()


def _code(response: httpx.Response) -> str:
    return response.json()["code"]


# -- scope ---------------------------------------------------------------------------------------------

async def test_a_project_key_reads_its_project_and_another_is_absent(served: Served):
    async with served.client(served.keys["alpha"]) as alpha, served.client(served.keys["beta"]) as beta, \
            served.client(ADMIN) as admin:
        assert (await alpha.get("api/v1/projects/alpha/tasks")).json() == {"ok": True, "data": []}
        assert (await alpha.get("v1/tasks")).json() == []  # the flat dialect: the default project, alpha
        assert (await beta.get("api/v1/projects/beta/tasks")).status_code == 200
        unknown = await alpha.get("api/v1/projects/nowhere/tasks")
        for response, project in ((await alpha.get("api/v1/projects/beta/tasks"), "beta"),
                                  (await alpha.post("api/v1/projects/beta/agents", json={"name": "x"}), "beta"),
                                  (unknown, "nowhere")):
            assert response.status_code == 404 and response.json() == {
                "ok": False, "error": f"Project not found: {project}", "code": "NOT_FOUND"}
        assert (await beta.get("v1/tasks")).status_code == 404  # beta is not the default project
        assert (await beta.get("v1/tasks")).json()["code"] == "not_found"
        assert (await beta.get("api/v1/agents/processes")).status_code == 404
        assert [p["id"] for p in (await alpha.get("api/v1/projects")).json()["data"]] == ["alpha"]
        assert [p["id"] for p in (await beta.get("api/v1/projects")).json()["data"]] == ["beta"]
        assert {p["id"] for p in (await admin.get("api/v1/projects")).json()["data"]} == {"alpha", "beta", "gamma"}
        assert "projects" not in (await alpha.get("v1/health")).json()  # the server's other projects: not its business
        assert isinstance((await admin.get("v1/health")).json()["projects"], int)
        assert (await admin.get("api/v1/projects/beta/tasks")).status_code == 200


async def test_streams_and_mcp_pass_the_same_gate(served: Served):
    ws = served.url.replace("http", "ws")
    alpha = {"Authorization": f"Bearer {served.keys['alpha']}"}
    with pytest.raises(InvalidStatus) as refused:
        async with connect(ws + "api/v1/projects/beta/ws", additional_headers=alpha):
            pass
    assert refused.value.response.status_code == 404
    async with asyncio.timeout(WAIT), connect(ws + "api/v1/projects/alpha/ws", additional_headers=alpha) as socket:
        await socket.send(json.dumps({"type": "ping"}))
        assert json.loads(await socket.recv()) == {"type": "pong"}
    async with served.client(served.keys["alpha"]) as client:
        async with client.stream("GET", "api/v1/projects/beta/events") as response:
            assert response.status_code == 404
        mcp = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
        accept = {"Accept": "application/json, text/event-stream"}
        assert (await client.post("mcp", json=mcp, headers=accept)).status_code == 200
    async with served.client(served.keys["beta"]) as client:  # /mcp is the default project's: not beta's
        assert (await client.post("mcp", json=mcp, headers=accept)).status_code == 404


async def test_no_key_is_unauthorized_and_an_unknown_key_is_invalid(served: Served):
    async with served.client() as anon, served.client("sk_live_" + "x" * 43) as unknown:
        assert (await anon.get("v1/tasks")).json() == {"error": "Missing credentials: send Authorization: Bearer <key>",
                                                         "code": "unauthorized"}
        for path, code in (("v1/tasks", "invalid_api_key"), ("api/v1/projects/alpha/tasks", "INVALID_API_KEY"),
                           ("api/v1/projects/beta/tasks", "INVALID_API_KEY")):
            response = await unknown.get(path)
            assert response.status_code == 401 and _code(response) == code, response.text
            assert response.headers["WWW-Authenticate"].startswith("Bearer")


# -- administration ------------------------------------------------------------------------------------

async def test_keys_are_managed_with_the_servers_credentials_only(served: Served):
    async with served.client(served.keys["alpha"]) as alpha, served.client(ADMIN) as admin:
        refused = await alpha.post("api/v1/projects/alpha/keys", json={"name": "mine"})
        assert refused.status_code == 403 and _code(refused) == "FORBIDDEN"
        assert (await alpha.get("v1/keys")).status_code == 403
        made = await admin.post("api/v1/projects/beta/keys", json={"name": "dashboard", "kind": "test"})
        assert made.status_code == 201, made.text
        created = made.json()["data"]
        assert created["key"].startswith("sk_test_") and created["kind"] == "test" and created["name"] == "dashboard"
        listed = (await admin.get("api/v1/projects/beta/keys")).json()["data"]
        assert {k["name"] for k in listed} >= {"beta-ci", "dashboard"} and all("key" not in k for k in listed)
        async with served.client(created["key"]) as dashboard:
            assert (await dashboard.get("api/v1/projects/beta/tasks")).status_code == 200

            async def used() -> bool:  # recorded off the request's path, at most once a minute
                listed = (await admin.get("api/v1/projects/beta/keys")).json()["data"]
                return next(k for k in listed if k["id"] == created["id"]).get("lastUsedAt") is not None

            assert await until(used)
            revoked = await admin.delete(f"api/v1/projects/beta/keys/{created['id']}")
            assert revoked.status_code == 200 and revoked.json()["data"]["revokedAt"]
            again = await dashboard.get("api/v1/projects/beta/tasks")
            assert again.status_code == 401 and _code(again) == "INVALID_API_KEY"
        duplicate = await admin.post("v1/keys", json={"name": "alpha-ci"})
        assert duplicate.status_code == 409 and _code(duplicate) == "conflict"
        bad = await admin.post("v1/keys", json={"name": "x", "kind": "prod"})
        assert bad.status_code == 400 and bad.json()["errors"][0]["loc"] == ["kind"]


async def test_revocation_from_the_cli_in_another_process_is_refused_on_the_next_request(served: Served):
    made = await asyncio.to_thread(subprocess.run, [*POLPO, "keys", "create", "rotating", "--project", str(served.root)],
                                   capture_output=True, text=True, check=True)
    key = made.stdout.strip()
    async with served.client(key) as client:
        assert (await client.get("v1/tasks")).status_code == 200
        await asyncio.to_thread(subprocess.run, [*POLPO, "keys", "revoke", "rotating", "--project", str(served.root)],
                                capture_output=True, text=True, check=True)
        refused = await client.get("v1/tasks")
        assert refused.status_code == 401 and refused.json() == {"error": "Invalid API key", "code": "invalid_api_key"}
        enveloped = await client.get("api/v1/projects/alpha/tasks")
        assert enveloped.status_code == 401 and _code(enveloped) == "INVALID_API_KEY"


async def test_streams_a_key_holds_end_when_it_is_revoked(served: Served):
    """Revocation is immediate everywhere: an SSE stream or WebSocket the key opened before delivers no
    event after it (they went on carrying every event, task outputs included). The SSE stream ends with an
    `error` event saying why; the socket closes with 1008."""
    made = await asyncio.to_thread(subprocess.run, [*POLPO, "keys", "create", "watcher", "--project", str(served.root)],
                                   capture_output=True, text=True, check=True)
    key = made.stdout.strip()
    ws = served.url.replace("http", "ws") + "api/v1/projects/alpha/ws"
    async with served.client(ADMIN) as admin:
        assert (await admin.post("api/v1/projects/alpha/agents", json={"name": "scout", "role": "r"})).status_code == 201
    async with asyncio.timeout(WAIT), served.client(key) as client, served.client(ADMIN) as admin, \
            aconnect_sse(client, "GET", "api/v1/projects/alpha/events") as sse, \
            connect(ws, additional_headers={"Authorization": f"Bearer {key}"}) as socket:
        events = sse.aiter_sse()
        assert (await admin.post("api/v1/projects/alpha/tasks", json={"title": "seen", "assignTo": "scout"})).status_code == 201
        assert json.loads((await anext(events)).data)["event"] == "task:created"
        assert json.loads(await socket.recv())["event"] == "task:created"
        await asyncio.to_thread(subprocess.run, [*POLPO, "keys", "revoke", "watcher", "--project", str(served.root)],
                                capture_output=True, text=True, check=True)
        assert (await admin.post("api/v1/projects/alpha/tasks", json={"title": "unseen", "assignTo": "scout"})).status_code == 201
        assert json.loads((await anext(events)).data) == {
            "event": "error", "data": {"error": "The API key was revoked", "code": "INVALID_API_KEY"}}
        with pytest.raises(StopAsyncIteration):
            await anext(events)
        with pytest.raises(ConnectionClosed) as closed:
            await socket.recv()
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1008, "The API key was revoked")


async def test_a_server_with_a_key_answers_behind_a_proxy_and_one_without_says_why_it_refuses(served: Served,
                                                                                                 tmp_path: Path):
    """A reverse proxy forwards its own `Host`. With an API key the server answers it (DNS rebinding, what
    Jupyter's local-host rule guards against, cannot get past the key); it answered 401 "Invalid API
    key" to the right key. Without a key the rule stands, and the refusal says it is the Host."""
    proxied = {"Host": "api.example.com"}
    async with served.client(served.keys["alpha"]) as client:
        assert (await client.get("v1/tasks", headers=proxied)).status_code == 200
    open_root = tmp_path / "open"
    (open_root / ".polpo").mkdir(parents=True)
    log, port = tmp_path / "serve.log", free_port()
    proc = await asyncio.to_thread(start_serve, open_root, port=port, key="", log=log, cli=False)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/", timeout=WAIT) as anon:
            assert (await anon.get("v1/tasks")).status_code == 200
            refused = await anon.get("v1/tasks", headers=proxied)
            assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
            assert "Host 'api.example.com'" in refused.json()["error"] and "--api-key" in refused.json()["error"]
    finally:
        code = await asyncio.to_thread(stop_serve, proc)
    assert code == 0, log.read_text()


async def test_the_key_text_is_nowhere_after_creation(served: Served):
    async with served.client(ADMIN) as admin:
        key = (await admin.post("api/v1/projects/alpha/keys", json={"name": "secretive"})).json()["data"]["key"]
        seen: list[str] = []
        async with served.client(key) as client:
            seen.append((await client.get("v1/tasks")).text)
            seen.append((await client.get("v1/nothing-here")).text)
            seen.append((await client.get("api/v1/projects/beta/tasks")).text)
            seen.append((await client.get("api/v1/projects")).text)
            seen.append((await client.post("v1/tasks", json={"title": 1})).text)
        async with served.client() as anon:  # as the browser's EventSource sends it: in the query
            async with anon.stream("GET", "v1/events", params={"token": key}) as response:
                assert response.status_code == 200
            seen.append((await anon.get("v1/tasks", params={"token": key + "x"})).text)
        seen.append((await admin.get("v1/keys")).text)
        seen.append((await admin.get("v1/state")).text)
        seen.append((await admin.delete("v1/keys/secretive")).text)
    assert all(key not in body for body in seen)
    stored = b"".join(p.read_bytes() for p in (served.root / ".polpo").glob("state.db*"))
    assert key[:12].encode() in stored and key.encode() not in stored
    assert key not in served.log.read_text() and key[12:] not in served.log.read_text()


# -- rate limits ---------------------------------------------------------------------------------------

async def test_a_burst_over_the_limit_gets_429s_and_requests_under_it_never_do(served: Served):
    async with served.client(served.keys["gamma"]) as gamma, served.client(served.keys["beta"]) as beta:
        burst = [await gamma.get("api/v1/projects/gamma/tasks") for _ in range(30)]
        under = [await beta.get("api/v1/projects/beta/tasks") for _ in range(30)]  # serve's default: 1200 a minute
    assert [r.status_code for r in burst[:20]] == [200] * 20  # gamma allows 20 a minute
    assert [r.headers["X-RateLimit-Limit"] for r in burst[:20]] == ["20"] * 20
    assert burst[0].headers["X-RateLimit-Remaining"] == "19" and int(burst[19].headers["X-RateLimit-Remaining"]) <= 1
    refused = [r for r in burst[20:] if r.status_code == 429]
    assert len(refused) >= 8 and {r.status_code for r in burst[20:]} <= {200, 429}
    for response in refused:
        assert response.json()["code"] == "RATE_LIMITED"
        assert int(response.headers["Retry-After"]) >= 1
        assert response.headers["X-RateLimit-Limit"] == "20" and response.headers["X-RateLimit-Remaining"] == "0"
        assert int(response.headers["X-RateLimit-Reset"]) > 0
    assert {r.status_code for r in under} == {200}
    assert under[-1].headers["X-RateLimit-Limit"] == "1200"


async def test_a_stream_holds_one_of_the_keys_concurrent_streams(served: Served):
    """beta's config allows a key one stream at a time (and serve's default requests a minute)."""
    auth = {"Authorization": f"Bearer {served.keys['beta']}"}
    async with served.client(served.keys["beta"]) as beta, \
            aconnect_sse(beta, "GET", "api/v1/projects/beta/events") as first:
        assert first.response.status_code == 200
        second = await beta.get("api/v1/projects/beta/events")
        assert second.status_code == 429 and second.json()["error"].startswith("Too many open streams")
        assert second.headers["Retry-After"]
        # with the limits every answer carries, and costing no request: the bucket is where it was
        third = await beta.get("api/v1/projects/beta/events")
        assert third.status_code == 429 and third.headers["X-RateLimit-Limit"] == second.headers["X-RateLimit-Limit"]
        assert int(third.headers["X-RateLimit-Remaining"]) >= int(second.headers["X-RateLimit-Remaining"])
        with pytest.raises(InvalidStatus) as refused:
            async with connect(served.url.replace("http", "ws") + "api/v1/projects/beta/ws", additional_headers=auth):
                pass
        assert refused.value.response.status_code == 429
        assert (await beta.get("api/v1/projects/beta/tasks")).status_code == 200  # not a stream: no slot needed

    async def reopened() -> bool:  # the slot frees when the server sees the connection close
        async with served.client(served.keys["beta"]) as client, client.stream("GET", "api/v1/projects/beta/events") as again:
            return again.status_code == 200

    assert await until(reopened)
    async with connect(served.url.replace("http", "ws") + "api/v1/projects/beta/ws", additional_headers=auth) as socket:
        await socket.send(json.dumps({"type": "ping"}))
        assert json.loads(await socket.recv()) == {"type": "pong"}  # the socket holds the slot now
        async with served.client(served.keys["beta"]) as client:
            assert (await client.get("api/v1/projects/beta/events")).status_code == 429
    assert await until(reopened)  # and gives it back when it closes


async def test_a_project_key_reaches_no_file_of_a_project_nested_in_its_own(served: Served):
    """beta is a project of its own below alpha (its own `.polpo/`, its own keys): alpha's key listed and
    read beta's files through alpha's routes."""
    (served.root / "beta" / "notes.md").write_text("beta's notes")
    (served.root / "mine.md").write_text("alpha's notes")
    async with served.client(served.keys["alpha"]) as alpha, served.client(ADMIN) as admin:
        names = [e["name"] for e in (await alpha.get("v1/files/list")).json()["entries"]]
        assert "beta" not in names and "mine.md" in names
        for route, path in (("files/read", "beta/notes.md"), ("files/preview", "beta/notes.md"),
                            ("files/list", "beta"), ("files/list", "beta/.polpo")):
            refused = await alpha.get(f"v1/{route}", params={"path": path})
            assert refused.status_code == 404 and "another project" in refused.json()["error"]
        assert (await alpha.get("v1/files/read", params={"path": "mine.md"})).text == "alpha's notes"
        assert (await admin.get("v1/files/read", params={"path": "beta/notes.md"})).text == "beta's notes"


# -- test keys: dry runs -------------------------------------------------------------------------------

DRY_MISSION = {"name": "dry-run", "team": {"name": "writers", "agents": [{"name": "writer", "model": LLM}]},
               "tasks": [{"title": "Draft", "description": "Draft the release notes.", "assignTo": "writer",
                          "expectations": [{"criterion": "The notes are clear"}]},
                         {"title": "Publish", "description": "Publish the notes.", "assignTo": "writer",
                          "dependsOn": ["Draft"], "sideEffects": True}]}


async def _events_until(client: httpx.AsyncClient, done: Any) -> list[tuple[str, dict]]:
    """The project's events from the first one, until `done(name, data)`."""
    out: list[tuple[str, dict]] = []
    try:
        async with asyncio.timeout(WAIT), aconnect_sse(client, "GET", "v1/events", params={"lastEventId": "0"}) as source:
            async for sse in source.aiter_sse():
                out.append((sse.event, json.loads(sse.data)))
                if done(*out[-1]):
                    return out
    except TimeoutError:
        pass
    raise AssertionError([(n, {k: v for k, v in d.items() if k in ("to", "model", "missionId", "error")}) for n, d in out])


async def test_a_test_keys_mission_runs_its_llm_agent_and_judge_on_the_test_model(served: Served):
    before = len(served.loopback.requests)
    async with served.client(served.keys["alpha-test"]) as client:
        mission = (await client.post("v1/missions", json=DRY_MISSION)).json()
        started = await client.post(f"v1/missions/{mission['id']}/execute", headers={"Accept": "application/json"})
        assert started.status_code == 200, started.text
        events = await _events_until(client, lambda name, data: name in ("approval:requested", "mission:status")
                                     and data["missionId"] == mission["id"] and data.get("to") != "active")
    mine = [(n, d) for n, d in events if d.get("missionId") == mission["id"]]
    executed = [d for n, d in mine if n == "mission:executed"]
    assert executed and executed[0]["dryRun"] is True
    spawned = [d for n, d in mine if n == "agent:spawned"]
    assert len(spawned) == 2 and {d["model"] for d in spawned} == {"test"}
    assert [n for n, _ in mine].count("assessment:completed") == 2  # judged (on `test` too)
    assert len(served.loopback.requests) == before  # no provider call: not the agents', not the judge's
    assert mine[-1][0] == "approval:requested"  # the side-effecting task waits for a human, dry run or not
    async with served.client(ADMIN) as admin:
        tasks = (await admin.get(f"v1/missions/{mission['id']}")).json()["tasks"]
        assert [(t["title"], t["status"]) for t in tasks] == [("Draft", "done"), ("Publish", "awaiting_approval")]
        assert (await admin.post(f"v1/missions/{mission['id']}/abort")).status_code == 200


async def test_a_test_keys_chat_turn_is_played_by_the_test_model(served: Served):
    before = len(served.loopback.requests)
    ask = {"model": "polpo", "messages": [{"role": "user", "content": "What is in this project?"}]}
    async with served.client(served.keys["alpha-test"]) as client:
        reply = await client.post("v1/chat/completions", json=ask)
        assert reply.status_code == 200, reply.text
        assert reply.json()["choices"][0]["message"]["content"]
        async with client.stream("POST", "v1/chat/completions", json={**ask, "stream": True}) as streamed:
            assert streamed.status_code == 200 and "[DONE]" in (await streamed.aread()).decode()
    assert len(served.loopback.requests) == before
    async with served.client(served.keys["alpha"]) as client:  # the control: a live key's turn asks the provider
        assert (await client.post("v1/chat/completions", json=ask)).status_code == 200
    assert len(served.loopback.requests) > before


async def test_a_test_keys_chat_needs_no_provider_key_and_names_the_test_model(served: Served):
    """A dry turn calls no provider, so the provider's missing API key does not refuse it (it was a 400
    `model_unavailable`); the answer names the model that played it, `test`, and its spend is `test`'s."""
    assert "GROQ_API_KEY" not in os.environ  # the provider this agent names has no key here
    async with served.client(ADMIN) as admin:
        made = await admin.post("api/v1/projects/alpha/agents", json={"name": "groqer", "model": "groq:llama-3.3-70b"})
        assert made.status_code == 201
    ask = {"model": "polpo", "agent": "groqer", "messages": [{"role": "user", "content": "Hello?"}]}
    async with served.client(served.keys["alpha"]) as live:  # the control: a live key's turn needs the key
        refused = await live.post("v1/chat/completions", json=ask)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "model_unavailable"
    async with served.client(served.keys["alpha-test"]) as client:
        reply = await client.post("v1/chat/completions", json=ask)
        assert reply.status_code == 200, reply.text
        assert reply.json()["model"] == "test"
        async with client.stream("POST", "v1/chat/completions", json={**ask, "stream": True}) as streamed:
            assert streamed.status_code == 200 and '"model":"test"' in (await streamed.aread()).decode()
    with sqlite3.connect(f"file:{served.root / '.polpo' / 'state.db'}?mode=ro", uri=True) as db:
        models = {row[0] for row in db.execute("SELECT model FROM spend")}
    assert "test" in models and "groq:llama-3.3-70b" not in models


async def test_the_same_mission_with_a_live_key_calls_the_provider(served: Served):
    """The control of the dry run: the loopback provider does see a live key's run."""
    before = len(served.loopback.requests)
    async with served.client(served.keys["alpha"]) as client:
        mission = (await client.post("v1/missions", json={**DRY_MISSION, "name": "live-run"})).json()
        started = await client.post(f"v1/missions/{mission['id']}/execute", headers={"Accept": "application/json"})
        assert started.status_code == 200, started.text
        await until(lambda: _value(len(served.loopback.requests) > before))
        events = await _events_until(client, lambda name, data: name == "mission:executed"
                                     and data["missionId"] == mission["id"])
        assert "dryRun" not in events[-1][1]
        await client.post(f"v1/missions/{mission['id']}/abort")


async def _value(value: Any) -> Any:
    return value


async def test_a_test_key_cannot_open_mcp_whose_runs_could_not_be_dry(served: Served):
    mcp = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
    async with served.client(served.keys["alpha-test"]) as client:
        refused = await client.post("mcp", json=mcp, headers={"Accept": "application/json, text/event-stream"})
        assert refused.status_code == 403 and _code(refused) == "forbidden"
        assert (await client.get("v1/tasks")).status_code == 200


async def test_a_test_key_cannot_schedule_a_mission_whose_runs_could_not_be_dry(served: Served):
    """A schedule fires in the engine, outside the request that saved it: the run it starts was live, and
    with a provider key in the server's environment a test key could spend through it."""
    scheduled = {**DRY_MISSION, "name": "scheduled-dry", "schedule": "0 0 1 * *"}
    async with served.client(served.keys["alpha-test"]) as client:
        refused = await client.post("v1/missions", json=scheduled)
        assert refused.status_code == 403 and _code(refused) == "forbidden" and "schedule" in refused.json()["error"]
        saved = (await client.post("v1/missions", json={**DRY_MISSION, "name": "unscheduled-dry"})).json()
        patched = await client.patch(f"v1/missions/{saved['id']}", json={"schedule": "0 0 1 * *"})
        assert patched.status_code == 403 and _code(patched) == "forbidden"
        assert (await client.get(f"v1/missions/{saved['id']}")).json().get("schedule") is None
        names = [m["name"] for m in (await client.get("v1/missions")).json()]
        assert "scheduled-dry" not in names
    async with served.client(served.keys["alpha"]) as client:  # a live key schedules it
        made = await client.post("v1/missions", json={**scheduled, "name": "scheduled-live"})
        assert made.status_code == 201 and made.json()["status"] == "scheduled"
        assert (await client.delete(f"v1/missions/{made.json()['id']}")).status_code == 200


# -- a server without --api-key --------------------------------------------------------------------------

async def test_keys_are_required_where_the_server_has_no_api_key(tmp_path: Path):
    root = tmp_path / "open"
    key = _project(root, {}).create("only").key
    free_root = root / "free"
    (free_root / ".polpo").mkdir(parents=True)  # a project without keys
    log, port = tmp_path / "serve.log", free_port()
    proc = await asyncio.to_thread(start_serve, root, port=port, key="", log=log, cli=False)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/", timeout=WAIT) as anon:
            refused = await anon.get("v1/tasks")
            assert refused.status_code == 401 and refused.json()["code"] == "unauthorized"
            assert (await anon.get("api/v1/projects/open/events")).status_code == 401
            assert (await anon.get("api/v1/projects/free/tasks")).status_code == 200  # no keys: open as before
            # a project with keys nested in an open one: its files are not read through the open one's routes
            locked = free_root / "locked"
            _project(locked, {}).create("lock")
            (locked / "notes.txt").write_text("the locked project's notes")
            assert (await anon.get("api/v1/projects/locked/files/read", params={"path": "notes.txt"})).status_code == 401
            for route, path in (("files/read", "locked/notes.txt"), ("files/preview", "locked/notes.txt"),
                                ("files/list", "locked")):
                through = await anon.get(f"api/v1/projects/free/{route}", params={"path": path})
                assert through.status_code == 404 and "another project" in through.json()["error"]
            listed = (await anon.get("api/v1/projects/free/files/list")).json()["data"]["entries"]
            assert "locked" not in [e["name"] for e in listed]
            wrong = await anon.get("api/v1/projects/free/tasks", headers={"Authorization": "Bearer sk_live_revoked"})
            assert wrong.status_code == 401 and wrong.json()["code"] == "INVALID_API_KEY"
            assert (await anon.get("v1/tasks", headers={"Authorization": f"Bearer {key}"})).status_code == 200
            admin = await anon.post("api/v1/projects/free/keys", json={"name": "mine"})
            assert admin.status_code == 403  # keys over HTTP: a server with credentials only
            ApiKeys(root).revoke("only")  # the last key goes: the project is open again, at once
            assert (await anon.get("v1/tasks")).status_code == 200
    finally:
        code = await asyncio.to_thread(stop_serve, proc)
    assert code == 0, log.read_text()


# -- on Jupyter ------------------------------------------------------------------------------------------

async def test_on_jupyter_a_project_key_opens_its_project_and_no_limit_applies(anon: httpx.AsyncClient, http, root_dir,
                                                                               project):
    key = ApiKeys(root_dir).create("notebook-ci").key
    auth = {"Authorization": f"Bearer {key}"}
    answers = [await anon.get("v1/tasks", headers=auth) for _ in range(5)]
    assert {r.status_code for r in answers} == {200}
    assert "X-RateLimit-Limit" not in answers[0].headers  # off on Jupyter unless configured
    assert (await anon.get("api/v1/projects/root_dir/keys", headers=auth)).status_code == 403
    made = await http.post("api/v1/projects/root_dir/keys", json={"name": "by-token", "kind": "test"})  # the token
    assert made.status_code == 201 and made.json()["data"]["key"].startswith("sk_test_")
    assert {k["name"] for k in (await http.get("v1/keys")).json()} == {"notebook-ci", "by-token"}
    await http.delete("v1/keys/notebook-ci")
    refused = await anon.get("v1/tasks", headers=auth)
    assert refused.status_code == 401 and refused.json()["code"] == "invalid_api_key"
    assert (await anon.get("v1/tasks")).json()["code"] == "unauthorized"


async def test_on_jupyter_a_projects_configured_limits_apply(anon: httpx.AsyncClient, root_dir, project):
    (root_dir / "polpo.json").write_text(json.dumps({"rateLimits": {"requestsPerMinute": 3}}))
    auth = {"Authorization": f"Bearer {ApiKeys(root_dir).create('tight').key}"}
    answers = [await anon.get("v1/tasks", headers=auth) for _ in range(5)]
    assert [r.status_code for r in answers[:3]] == [200, 200, 200]
    assert answers[0].headers["X-RateLimit-Limit"] == "3"
    assert answers[4].status_code == 429 and answers[4].json()["code"] == "rate_limited"
    assert int(answers[4].headers["Retry-After"]) >= 1
