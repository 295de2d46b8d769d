"""`polpo serve` killed with SIGKILL mid-mission, then started again on the same project and port.

What must hold (issue 7): every task that finished before the kill keeps its result and its
assessment; the mission is listed as resumable and `resume` completes it (the task that was in flight
runs again, in the new process); and an SSE client that reconnects with `Last-Event-ID` across the
restart gets every event the store holds, with no gap and no duplicate, identical to a replay.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from pathlib import Path
from typing import Any

import httpx
from httpx_sse import aconnect_sse
from server_helpers import WAIT, free_port, start_serve, stop_serve, until

KEY = "sk_restart"
AUTH = {"Authorization": f"Bearer {KEY}"}

AGENTS = '''
"""`slow` blocks (until the file `release` exists) after saying it started; the rest finish at once."""
import asyncio
import os


async def work(task, ctx):
    ctx.output(f"working on {task.title}")
    if task.title == "slow":
        release = ctx.project_dir / "release"
        if not release.exists():
            (ctx.project_dir / "slow-started").write_text(str(os.getpid()))
        while not release.exists():
            await asyncio.sleep(0.05)
    return f"{task.title} done by {os.getpid()}"
'''

MISSION = {
    "name": "survivor",
    "tasks": [
        {"title": "a", "assignTo": "w", "expectations": [{"criterion": "a is complete"}]},
        {"title": "b", "assignTo": "w", "dependsOn": ["a"], "expectations": [{"criterion": "b is complete"}]},
        {"title": "side", "assignTo": "w", "expectations": [{"criterion": "side is complete"}]},
        {"title": "slow", "assignTo": "w", "dependsOn": ["b"]},
        {"title": "last", "assignTo": "w", "dependsOn": ["slow"], "expectations": [{"criterion": "complete"}]},
    ],
}

Received = list[tuple[int, str, dict[str, Any]]]


async def _read(client: httpx.AsyncClient, into: Received, last_id: str, stop: asyncio.Event) -> None:
    """Every event after `last_id` into `into` as (id, name, data), until `stop` or the server dies."""
    with contextlib.suppress(httpx.HTTPError):
        async with aconnect_sse(client, "GET", "v1/events", headers={"Last-Event-ID": last_id}) as source:
            assert source.response.status_code == 200
            async for sse in source.aiter_sse():
                into.append((int(sse.id.removeprefix("evt_")), sse.event, json.loads(sse.data)))
                if stop.is_set():
                    return


async def _replay(client: httpx.AsyncClient, upto: int) -> Received:
    """The store's events 1..upto, as a fresh client replaying from the start reads them."""
    out: Received = []
    async with aconnect_sse(client, "GET", "v1/events", params={"lastEventId": "0"}) as source:
        async for sse in source.aiter_sse():
            out.append((int(sse.id.removeprefix("evt_")), sse.event, json.loads(sse.data)))
            if out[-1][0] >= upto:
                break
    return out


def _completed(events: Received, mission_id: str) -> bool:
    return any(name == "mission:completed" and data.get("missionId") == mission_id for _, name, data in events)


async def test_sigkill_mid_mission_then_restart_loses_nothing(tmp_path: Path):
    root = tmp_path / "proj"
    root.mkdir()
    (root / "team_agents.py").write_text(AGENTS)
    (root / "polpo.json").write_text(json.dumps({"judgeModel": "test"}))
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log = tmp_path / "serve.log"

    first = await asyncio.to_thread(start_serve, root, port=port, key=KEY, log=log)
    received: Received = []
    stop = asyncio.Event()
    try:
        async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=WAIT) as client:
            reader = asyncio.ensure_future(_read(client, received, "0", stop))
            assert (await client.post("v1/agents", json={"name": "w", "handler": "team_agents:work"})).status_code == 201
            mission = (await client.post("v1/missions", json=MISSION)).json()
            mid = mission["id"]
            started = await client.post(f"v1/missions/{mid}/execute", headers={"Accept": "application/json"})
            assert started.status_code == 200 and started.json()["status"] == "active"
            await until(lambda: _exists(root / "slow-started"))

            async def finished_before() -> dict[str, dict] | None:
                tasks = {t["title"]: t for t in (await client.get("v1/tasks", params={"group": mid})).json()}
                return tasks if all(tasks[t]["status"] == "done" for t in ("a", "b", "side")) else None

            before = await finished_before()  # the store says so; now kill without warning
            assert before is not None and before["slow"]["status"] == "in_progress"
            await until(lambda: _async(any(d.get("taskId") == before["slow"]["id"] and d.get("to") == "in_progress"
                                           for _, n, d in received if n == "task:transition")))
            os.kill(first.pid, signal.SIGKILL)
            assert await asyncio.to_thread(first.wait, WAIT) == -signal.SIGKILL
            async with asyncio.timeout(WAIT):
                await reader  # the stream broke with the server
    finally:
        if first.poll() is None:
            first.kill()
    assert received, "the first server sent no event"
    last_seen = received[-1][0]
    first_pid = before["a"]["result"]["content"].rsplit(" ", 1)[1]

    (root / "release").write_text("go")
    second = await asyncio.to_thread(start_serve, root, port=port, key=KEY, log=log)
    try:
        async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=WAIT) as client:
            # the client reconnects where it left off, as EventSource would
            after_restart: Received = []
            reader = asyncio.ensure_future(_read(client, after_restart, f"evt_{last_seen:05d}", stop))

            # finished work survived, with its assessment
            survived = {t["title"]: t for t in (await client.get("v1/tasks", params={"group": mid})).json()}
            for title in ("a", "b", "side"):
                kept, was = survived[title], before[title]
                assert kept["status"] == "done"
                assert kept["result"] == was["result"] and kept["assessment"] == was["assessment"]
                assert kept["assessment"]["passed"] is True
            assert survived["slow"]["status"] == "pending"  # re-queued: it was in flight
            assert survived["slow"]["retries"] == 0  # a crash burns no retry
            assert survived["last"]["status"] in ("draft", "pending")

            resumable = (await client.get("v1/missions/resumable")).json()
            assert [m["id"] for m in resumable] == [mid]
            assert resumable[0]["pauseReason"] == "interrupted"
            resumed = await client.post(f"v1/missions/{mid}/resume", json={})
            assert resumed.status_code == 200, resumed.text

            await until(lambda: _async(_completed(after_restart, mid)))
            stop.set()
            final = (await client.get(f"v1/missions/{mid}")).json()
            assert final["status"] == "completed"
            by_title = {t["title"]: t for t in final["tasks"]}
            second_pid = str(second.pid)
            assert {t: by_title[t]["result"]["content"] for t in by_title} == {
                "a": f"a done by {first_pid}", "b": f"b done by {first_pid}", "side": f"side done by {first_pid}",
                "slow": f"slow done by {second_pid}", "last": f"last done by {second_pid}"}
            assert all(by_title[t]["assessment"] == before[t]["assessment"] for t in ("a", "b", "side"))

            # every event id the store holds, once, in order, across the restart: what the client got
            # live equals a replay from the beginning
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            stream = received + after_restart
            replay = await _replay(client, upto=stream[-1][0])
            assert [e[0] for e in stream] == [e[0] for e in replay]
            assert stream == replay
            ids = [e[0] for e in stream]
            assert ids == list(range(1, ids[-1] + 1))  # every id from the first, once, in order: no gap
    finally:
        code = await asyncio.to_thread(stop_serve, second)
    assert code == 0, log.read_text()


async def _exists(path: Path) -> bool:
    return path.exists()


async def _async(value: Any) -> Any:
    return value
