"""`GET ws`: the event stream over a WebSocket, with subscribe/unsubscribe and errors that keep it open."""

from __future__ import annotations

import asyncio
import json

import pytest
from server_helpers import WAIT, Api, until
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from polpo_nb import AsyncProject
from polpo_nb.events import bus as bus_module
from polpo_nb.events.catalog import TaskOutput


async def _recv(ws: ClientConnection) -> dict:
    async with asyncio.timeout(WAIT):
        return json.loads(await ws.recv())


def _open(ws_url: str, api: Api, headers: dict, query: str = ""):
    return connect(ws_url + api.url("ws") + query, additional_headers=headers)


async def test_every_event_arrives_until_the_client_subscribes(api: Api, ws_url, jp_auth_header):
    async with _open(ws_url, api, jp_auth_header) as ws:
        await api.call("POST", "agents", 201, json={"name": "a1"})
        message = await _recv(ws)
        assert set(message) == {"id", "event", "data"}
        assert message["event"] == "agent:added" and message["data"]["agentName"] == "a1"
        assert message["id"].startswith("evt_")


async def test_subscribe_narrows_and_unsubscribe_widens_nothing(api: Api, project: AsyncProject, ws_url, jp_auth_header):
    project.agent("w")(lambda task, ctx: "ok")
    async with _open(ws_url, api, jp_auth_header) as ws:
        await ws.send(json.dumps({"type": "subscribe", "pattern": "task:*"}))
        assert await _recv(ws) == {"type": "subscribed", "patterns": ["task:*"]}
        await api.call("POST", "agents", 201, json={"name": "ignored"})
        task = await api.call("POST", "tasks", 201, json={"title": "t", "assignTo": "w"})
        message = await _recv(ws)  # the agent event was filtered out
        assert message["event"] == "task:created" and message["data"]["taskId"] == task["id"]

        await ws.send(json.dumps({"type": "subscribe", "pattern": "memory:*"}))
        assert (await _recv(ws))["patterns"] == ["task:*", "memory:*"]
        await ws.send(json.dumps({"type": "unsubscribe", "pattern": "task:*"}))
        assert await _recv(ws) == {"type": "unsubscribed", "patterns": ["memory:*"]}
        await api.call("POST", "tasks", 201, json={"title": "t2", "assignTo": "w"})
        await api.call("PUT", "memory", json={"content": "x"})
        assert (await _recv(ws))["event"] == "memory:updated"


@pytest.mark.parametrize("bad", ["not json", "[1, 2]", '{"type": "dance"}', '{"type": "subscribe"}',
                                 '{"type": "subscribe", "pattern": 42}'])
async def test_malformed_messages_get_an_error_and_the_socket_stays_open(api: Api, ws_url, jp_auth_header, bad):
    async with _open(ws_url, api, jp_auth_header) as ws:
        await ws.send(bad)
        error = await _recv(ws)
        assert error["type"] == "error" and error["error"]
        assert error["code"] in ("BAD_REQUEST", "bad_request")
        await ws.send(json.dumps({"type": "ping"}))
        assert await _recv(ws) == {"type": "pong"}
        await api.call("POST", "agents", 201, json={"name": "still-here"})
        assert (await _recv(ws))["data"]["agentName"] == "still-here"


async def test_last_event_id_replays_over_the_socket(api: Api, ws_url, jp_auth_header):
    for name in ("a1", "a2", "a3"):
        await api.call("POST", "agents", 201, json={"name": name})
    async with _open(ws_url, api, jp_auth_header, "?lastEventId=evt_00001") as ws:
        assert [(await _recv(ws))["data"]["agentName"] for _ in range(2)] == ["a2", "a3"]


async def test_closing_the_socket_releases_its_subscriber(api: Api, project: AsyncProject, ws_url, jp_auth_header):
    before = project.bus.subscriber_count
    async with _open(ws_url, api, jp_auth_header) as ws:
        await ws.send(json.dumps({"type": "ping"}))
        assert await _recv(ws) == {"type": "pong"}
        assert project.bus.subscriber_count == before + 1
    await until(lambda: _count(project, before))


async def _count(project: AsyncProject, n: int) -> bool:
    return project.bus.subscriber_count == n


async def test_socket_without_credentials_is_refused(api: Api, ws_url):
    with pytest.raises(InvalidStatus) as info:
        async with _open(ws_url, api, {}):
            pass
    assert info.value.response.status_code in (401, 403)


async def test_socket_of_an_unknown_project_is_404(papi: Api, ws_url, jp_auth_header):
    papi.project_id = "ghost"
    with pytest.raises(InvalidStatus) as info:
        async with _open(ws_url, papi, jp_auth_header):
            pass
    assert info.value.response.status_code == 404


async def test_jp_ws_fetch_reaches_the_socket(jp_ws_fetch, papi: Api):
    ws = await jp_ws_fetch("polpo", "api", "v1", "projects", "root_dir", "ws")
    try:
        await papi.call("POST", "agents", 201, json={"name": "via-tornado"})
        async with asyncio.timeout(WAIT):
            message = json.loads(await ws.read_message())
        assert message["event"] == "agent:added" and message["data"]["agentName"] == "via-tornado"
    finally:
        ws.close()


async def test_a_socket_too_far_behind_is_closed_so_that_it_reconnects(api: Api, project: AsyncProject, ws_url,
                                                                     jp_auth_header, monkeypatch):
    """The feed drops a client that falls too far behind (MAX_BACKLOG): the socket is closed (1013) so the
    client reconnects with the last id it got, as an SSE client does when its stream ends. It stayed open,
    answering pings, and delivered nothing ever again."""
    monkeypatch.setattr(bus_module, "MAX_BACKLOG", 5)
    async with _open(ws_url, api, jp_auth_header) as ws:
        await ws.send(json.dumps({"type": "ping"}))
        assert await _recv(ws) == {"type": "pong"}  # subscribed
        await project.journal.write(lambda tx, emit: [
            emit(TaskOutput(task_id="task_x", mission_id=None, attempt=1, text=str(i))) for i in range(20)])  # one commit: a burst
        received = []
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                received.append(await _recv(ws))
        assert closed.value.rcvd.code == 1013 and "reconnect with lastEventId" in closed.value.rcvd.reason
        assert len(received) < 20
