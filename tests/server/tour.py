"""The seed-000 tour: every route of the table, in one dialect, with checks of what each answers.

Run on a real Jupyter server (test_server_routes.py) and on a real `polpo serve` subprocess
(test_server_serve.py). The caller provides three agents: `w` (logs "working on <title>", outputs,
writes `.polpo/output/report.md`), `boom` (raises) and `gated` (waits until released; cancellable),
and a judge that passes everything.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from server_helpers import WAIT, Api, mounted, record_hits, until
from websockets.asyncio.client import connect


async def _task(api: Api, status: str, tid: str) -> dict | None:
    task = await api.get(f"tasks/{tid}")
    return task if task["status"] == status else None


async def _mission(api: Api, mid: str, status: str) -> bool:
    return (await api.get(f"missions/{mid}"))["status"] == status


async def every_route(api: Api, ws_url: str, ws_headers: dict[str, str], *, release: Callable[[], None] = lambda: None,
                      suffix: str = "", score: float | None = None) -> None:
    """Call every route of `api`'s dialect; fail if one was not called. `ws_url` is the API's base as ws://."""
    record_hits(api)
    # -- server ---------------------------------------------------------------------------------------
    assert (await api.get("health", server=True))["status"] == "ok"
    projects = await api.get("projects", server=True)
    assert {"id": api.project_id, "name": api.project_id, "path": "."} in projects
    assert (await api.client.get(api.url("openapi.json", server=True))).json()["openapi"].startswith("3.1")
    doc = await api.client.get(api.url("openapi.json"))  # project-level document (raw in both dialects)
    assert doc.status_code == 200 and "paths" in doc.json()
    state = await api.get("state")
    assert state["project"]["id"] == api.project_id and {a["name"] for a in state["agents"]} >= {"w", "boom"}
    assert (await api.get("config"))["maxConcurrency"] >= 1

    # -- agents ---------------------------------------------------------------------------------------
    added = await api.call("POST", "agents", 201, json={"name": "helper", "role": "Helps", "model": "test"})
    assert added["name"] == "helper"
    assert "helper" in {a["name"] for a in await api.get("agents")}
    assert (await api.call("PATCH", "agents/team", json={"name": "crew"}))["name"] == "crew"
    assert (await api.get("agents/team"))["name"] == "crew"
    assert await api.get("agents/processes") == []
    assert (await api.call("DELETE", "agents/helper")) == {"id": "helper", "deleted": True}

    # -- tasks ----------------------------------------------------------------------------------------
    created = await api.call("POST", "tasks", 201, json={"title": "Write report", "description": "d", "assignTo": "w",
                                                          "expectations": [{"criterion": "clear"}]})
    tid = created["id"]
    assert created["status"] == "draft" and created["phase"] is None
    listed = await api.get("tasks", params={"status": "draft", "assignTo": "w"})
    assert [t["id"] for t in listed] == [tid]
    assert await api.get("tasks", params={"status": "done"}) == []
    patched = await api.call("PATCH", f"tasks/{tid}", json={"priority": 20, "maxRetries": 5})
    assert (patched["priority"], patched["maxRetries"]) == (20, 5)
    assert (await api.get(f"tasks/{tid}"))["priority"] == 20
    stream = await api.stream("POST", f"tasks/{tid}/execute", headers={"Accept": "text/event-stream"})
    names = [name for name, _, _ in stream]
    assert names[-1] == "done" and stream[-1][1]["status"] == "done"
    assert {"status", "phase", "output", "assessment"} <= set(names)
    reassessed = await api.call("POST", f"tasks/{tid}/reassess")
    assert reassessed["status"] == "done" and reassessed["assessment"]["passed"] is True
    if score is not None:
        assert reassessed["assessment"]["score"] == score

    failing = await api.call("POST", "tasks", 201, json={"title": "Explode", "assignTo": "boom", "maxRetries": 0})
    events = await api.stream("POST", f"tasks/{failing['id']}/execute")
    assert ("error" in [n for n, _, _ in events]) and events[-1][1]["status"] == "failed"
    retried = await api.call("POST", f"tasks/{failing['id']}/retry")
    assert retried["retries"] == 1
    await until(lambda: _task(api, "failed", failing["id"]))

    slow = await api.call("POST", "tasks", 201, json={"title": "Wait", "assignTo": "gated"})
    started = await api.call("POST", f"tasks/{slow['id']}/execute", headers={"Accept": "application/json"})
    assert started["id"] == slow["id"]
    await until(lambda: _task(api, "in_progress", slow["id"]))
    killed = await api.call("POST", f"tasks/{slow['id']}/kill")
    assert killed["status"] == "failed"

    for verb, final in (("approve", "done"), ("reject", "failed")):
        risky = await api.call("POST", "tasks", 201, json={"title": f"Deploy {verb}", "assignTo": "w", "sideEffects": True})
        events = await api.stream("POST", f"tasks/{risky['id']}/execute")
        assert events[-1][1]["status"] == "awaiting_approval"
        decided = await api.call("POST", f"tasks/{risky['id']}/{verb}", json={"note": "checked"})
        assert decided["status"] == final

    assert await api.call("DELETE", f"tasks/{tid}") == {"id": tid, "deleted": True}
    api.error(await api.request("GET", f"tasks/{tid}"), 404)

    # -- missions -------------------------------------------------------------------------------------
    mission = await api.call("POST", "missions", 201, json={
        "name": f"pipeline{suffix}", "prompt": "Ship it",
        "tasks": [{"title": "build", "assignTo": "w"}, {"title": "ship", "assignTo": "w", "dependsOn": ["build"]}],
        "checkpoints": [{"name": "review", "afterTasks": ["build"], "message": "Look at the build"}],
    })
    mid = mission["id"]
    assert mission["status"] == "draft" and [t["title"] for t in mission["tasks"]] == ["build", "ship"]
    assert mid in [m["id"] for m in await api.get("missions")]
    assert (await api.get(f"missions/{mid}"))["name"] == f"pipeline{suffix}"
    assert (await api.call("PATCH", f"missions/{mid}", json={"qualityThreshold": 4.5}))["qualityThreshold"] == 4.5
    extra = await api.call("POST", f"missions/{mid}/tasks", 201, json={"title": "notify", "assignTo": "w",
                                                                         "dependsOn": ["ship"]})
    assert (await api.call("PATCH", f"missions/{mid}/tasks/{extra['id']}", json={"priority": 5}))["priority"] == 5
    assert await api.call("DELETE", f"missions/{mid}/tasks/{extra['id']}") == {"id": extra["id"], "deleted": True}

    paused = await api.stream("POST", f"missions/{mid}/execute", headers={"Accept": "text/event-stream"})
    assert paused[-1][0] == "mission:status" and paused[-1][1]["pauseReason"] == "checkpoint"
    assert "checkpoint:waiting" in [n for n, _, _ in paused]
    assert mid in [m["id"] for m in await api.get("missions/resumable")]
    resumed = await api.call("POST", f"missions/{mid}/resume", json={"retryFailed": False})
    assert resumed["status"] == "active"
    await until(lambda: _mission(api, mid, "completed"))
    rerun = await api.call("POST", f"missions/{mid}/rerun", json={"fromTask": "ship"})  # the checkpoint stays passed
    assert rerun["status"] == "active"
    await until(lambda: _mission(api, mid, "completed"))
    usage = await api.get(f"missions/{mid}/usage")  # function agents call no model: nothing spent, nothing unpriced
    assert usage["missionId"] == mid and usage["total"]["requests"] == 0 and usage["byTask"] == []

    doomed = await api.call("POST", "missions", 201, json={"name": f"long{suffix}", "tasks": [{"title": "t", "assignTo": "gated"}]})
    await api.call("POST", f"missions/{doomed['id']}/execute", headers={"Accept": "application/json"})
    aborted = await api.call("POST", f"missions/{doomed['id']}/abort")
    assert aborted["status"] == "cancelled"
    assert await api.call("DELETE", f"missions/{doomed['id']}") == {"id": doomed["id"], "deleted": True}
    release()

    # -- memory, files, logs --------------------------------------------------------------------------
    assert (await api.call("PUT", "memory", json={"content": "# Notes\nuse tabs\n"}))["content"].startswith("# Notes")
    assert (await api.get("memory"))["content"] == "# Notes\nuse tabs\n"
    listing = await api.get("files/list", params={"path": ".polpo/output"})
    assert [e["name"] for e in listing["entries"]] == ["report.md"]
    read = await api.client.get(api.url("files/read"), params={"path": ".polpo/output/report.md"})
    assert read.status_code == 200 and read.text.startswith("# ") and read.headers["content-type"].startswith("text/markdown")
    preview = await api.get("files/preview", params={"path": ".polpo/output/report.md"})
    assert preview["type"] == "text" and preview["truncated"] is False
    sessions = await api.get("logs")
    entries = [await api.get(f"logs/{s['sessionId']}") for s in sessions]
    assert any(e["message"] == "working on Write report" and e["level"] == "info" for log in entries for e in log)

    # -- streams --------------------------------------------------------------------------------------
    replay = await api.stream("GET", "events", params={"lastEventId": "0", "filter": "mission:*"}, limit=3)
    assert [name for name, _, _ in replay] == ["mission:saved"] * 3 or all(n.startswith("mission:") for n, _, _ in replay)
    async with asyncio.timeout(WAIT), connect(ws_url + api.url("ws") + "?lastEventId=0",
                                              additional_headers=ws_headers) as ws:
        first = json.loads(await ws.recv())
        assert first["id"] == "evt_00001" and first["event"]
    api.hits.add(("GET", ("api/v1/projects/{projectId}/" if api.envelope else "v1/") + "ws"))

    assert mounted(api.dialect) <= api.hits, sorted(mounted(api.dialect) - api.hits)


