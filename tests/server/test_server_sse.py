"""`GET events`: SSE in both dialects, replay after Last-Event-ID, filters, keep-alive, disconnects,
and events written by another process."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import httpx
import pytest
from httpx_sse import aconnect_sse
from server_helpers import WAIT, Api, until

from polpo_nb import AsyncProject


async def _add_agents(api: Api, *names: str) -> None:
    for name in names:
        await api.call("POST", "agents", 201, json={"name": name})


async def _collect(api: Api, n: int, **kw) -> list[tuple[str, dict, str]]:
    """Open `events`, then (once it is open) let the caller's events flow; read `n` of them."""
    return await api.stream("GET", "events", limit=n, **kw)


async def test_stream_headers(api: Api):
    async with asyncio.timeout(WAIT), api.client.stream("GET", api.url("events")) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"


async def test_project_dialect_sends_unnamed_events_with_event_and_data(papi: Api):
    await _add_agents(papi, "a1")
    async with asyncio.timeout(WAIT), aconnect_sse(papi.client, "GET", papi.url("events"),
                                                   params={"lastEventId": "0"}) as source:
        sse = await anext(source.aiter_sse())
    assert sse.event == "message"  # what EventSource.onmessage receives
    body = json.loads(sse.data)
    assert set(body) == {"event", "data"} and body["event"] == "agent:added" and body["data"]["agentName"] == "a1"
    assert sse.id == "evt_00001"


async def test_flat_dialect_sends_named_events_with_raw_payload(fapi: Api):
    await _add_agents(fapi, "a1")
    events = await _collect(fapi, 1, params={"lastEventId": "0"})
    name, data, event_id = events[0]
    assert name == "agent:added" and data["agentName"] == "a1" and event_id == "evt_00001"
    assert "timestamp" in data


async def test_live_events_reach_an_open_stream(api: Api):
    async with asyncio.timeout(WAIT), aconnect_sse(api.client, "GET", api.url("events")) as source:
        await _add_agents(api, "live-1", "live-2")
        got = []
        async for sse in source.aiter_sse():
            got.append(api.sse_data(sse))
            if len(got) == 2:
                break
    assert [(n, d["agentName"]) for n, d in got] == [("agent:added", "live-1"), ("agent:added", "live-2")]


@pytest.mark.parametrize("form", ["3", "evt_00003"])
async def test_last_event_id_header_replays_what_follows(api: Api, form: str):
    await _add_agents(api, *[f"a{i}" for i in range(1, 6)])
    events = await _collect(api, 2, headers={"Last-Event-ID": form})
    assert [d["agentName"] for _, d, _ in events] == ["a4", "a5"]
    assert [i for _, _, i in events] == ["evt_00004", "evt_00005"]


@pytest.mark.parametrize("form", ["2", "evt_00002"])
async def test_last_event_id_query_parameter_replays_what_follows(api: Api, form: str):
    await _add_agents(api, "a1", "a2", "a3")
    events = await _collect(api, 1, params={"lastEventId": form})
    assert events[0][1]["agentName"] == "a3"


async def test_header_wins_over_query_parameter(api: Api):
    await _add_agents(api, "a1", "a2", "a3")
    events = await _collect(api, 1, params={"lastEventId": "0"}, headers={"Last-Event-ID": "evt_00002"})
    assert events[0][1]["agentName"] == "a3"


async def test_reconnect_with_last_event_id_loses_nothing(api: Api):
    names = [f"r{i}" for i in range(12)]
    seen: list[str] = []
    last_id = None
    async with asyncio.timeout(WAIT), aconnect_sse(api.client, "GET", api.url("events")) as source:
        await _add_agents(api, *names[:6])
        async for sse in source.aiter_sse():
            seen.append(api.sse_data(sse)[1]["agentName"])
            last_id = sse.id
            if len(seen) == 4:
                break  # the client drops the connection mid-stream
    await _add_agents(api, *names[6:])  # while nobody is listening
    events = await _collect(api, len(names) - 4, headers={"Last-Event-ID": last_id})
    seen += [d["agentName"] for _, d, _ in events]
    assert seen == names


async def test_filter_keeps_matching_event_names_only(api: Api, project: AsyncProject):
    project.agent("w")(lambda task, ctx: "ok")
    await _add_agents(api, "noise")
    task = await api.call("POST", "tasks", 201, json={"title": "t", "assignTo": "w"})
    await api.call("PUT", "memory", json={"content": "m"})
    events = await _collect(api, 2, params={"lastEventId": "0", "filter": "task:*,memory:updated"})
    assert [n for n, _, _ in events] == ["task:created", "memory:updated"]
    assert events[0][1]["taskId"] == task["id"]


async def test_invalid_last_event_id_is_a_400(api: Api):
    body = api.error(await api.request("GET", "events", headers={"Last-Event-ID": "yesterday"}), 400)
    assert "yesterday" in body["error"]


async def test_idle_stream_gets_keep_alive_comments(api: Api):
    comments = []
    async with asyncio.timeout(WAIT), api.client.stream("GET", api.url("events")) as response:
        async for line in response.aiter_lines():
            if line.startswith(":"):
                comments.append(line)
            if ": keep-alive" in comments:
                break
    assert comments[0] == ": connected" and ": keep-alive" in comments


async def test_client_disconnect_releases_its_subscriber(api: Api, project: AsyncProject):
    before = project.bus.subscriber_count
    async with asyncio.timeout(WAIT), api.client.stream("GET", api.url("events")) as response:
        assert response.status_code == 200
        await until(lambda: _count_is(project, before + 1))
    # the client closed the connection; the server notices and unsubscribes
    await until(lambda: _count_is(project, before))
    assert project.bus.subscriber_count == before


async def _count_is(project: AsyncProject, n: int) -> bool:
    return project.bus.subscriber_count == n


async def test_events_from_another_process_reach_subscribers(api: Api, project: AsyncProject, root_dir: Path):
    script = ("import sys, polpo_nb as polpo\n"
              "with polpo.Project(sys.argv[1]) as p:\n"
              "    p.add_agent({'name': 'from-the-kernel', 'role': 'written by another process'})\n")
    async with asyncio.timeout(WAIT), aconnect_sse(api.client, "GET", api.url("events"),
                                                   params={"filter": "agent:*"}) as source:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", script, str(root_dir))
        assert await proc.wait() == 0
        sse = await anext(source.aiter_sse())
    name, data = api.sse_data(sse)
    assert name == "agent:added" and data["agentName"] == "from-the-kernel"


async def test_events_stream_needs_credentials(anon: httpx.AsyncClient):
    response = await anon.get("api/v1/projects/root_dir/events")
    assert response.status_code == 401
