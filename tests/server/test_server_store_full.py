"""A served project whose disk fills up: a write the store refuses is answered 507 Insufficient Storage
in the user's terms (nothing of it stored, nothing half-written, no server path in the body), the server
keeps answering, and the same request succeeds once space is freed.

The server is `polpo serve` in a process of its own, as the limit that stands for a full disk
(RLIMIT_FSIZE: no file of the process may grow past the store's largest) is the whole process's. The
test fills and frees the disk with two signals the served process handles.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import httpx
import httpx2
import pytest
from httpx_sse import aconnect_sse
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from server_helpers import WAIT, free_port, start_serve, stop_serve, until

KEY = "sk_test_full_disk"
AUTH = {"Authorization": f"Bearer {KEY}"}

#: Run in the served process before the server: SIGUSR2 fills the disk, then frees it, and says so in a
#: marker file once done (small: it fits under the limit). (Jupyter's server takes SIGUSR1 for itself.)
DISK = """
import resource, signal
from pathlib import Path
ROOT = Path({root!r})
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing us
def toggle(*_):
    marker = ROOT.parent / "disk"
    if marker.exists() and marker.read_text() == "full":
        resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        marker.write_text("freed")
    else:
        largest = max(f.stat().st_size for f in (ROOT / ".polpo").glob("state.db*"))
        resource.setrlimit(resource.RLIMIT_FSIZE, (largest, resource.RLIM_INFINITY))
        marker.write_text("full")
signal.signal(signal.SIGUSR2, toggle)
"""


def _mission(name: str) -> dict:
    """A draft mission whose one task's description (300 KB) makes the store's files grow."""
    return {"name": name, "team": {"agents": [{"name": "w", "model": "test"}]},
            "tasks": [{"title": "big", "description": "x" * 300_000, "assignTo": "w"}]}


async def _disk(proc, root: Path, state: str) -> None:
    os.kill(proc.pid, signal.SIGUSR2)
    marker = root.parent / "disk"

    async def said() -> bool:
        return marker.exists() and marker.read_text() == state
    await until(said)


@pytest.mark.parametrize("dialect", ["project", "flat"])
async def test_a_write_the_full_disk_refuses_is_507_and_succeeds_once_space_is_freed(tmp_path: Path, dialect: str):
    root = tmp_path / "full"
    root.mkdir()
    (root / "polpo.json").write_text('{"orchestratorModel": "test"}')
    port = free_port()
    log = tmp_path / "serve.log"
    proc = await asyncio.to_thread(start_serve, root, port=port, key=KEY, log=log, cli=False,
                                   prelude=DISK.format(root=str(root)))
    prefix = "api/v1/projects/full/" if dialect == "project" else "v1/"
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/", headers=AUTH, timeout=WAIT) as client:
            first = await client.post(prefix + "missions", json=_mission("before"))
            assert first.status_code == 201, first.text
            await _disk(proc, root, "full")

            refused = await client.post(prefix + "missions", json=_mission("during"))
            assert refused.status_code == 507, refused.text
            body = refused.json()
            assert body["code"] == ("INSUFFICIENT_STORAGE" if dialect == "project" else "insufficient_storage")
            assert "store cannot be written" in body["error"] and "nothing of this request was stored" in body["error"]
            assert "free disk space" in body["error"]
            assert str(root) not in refused.text  # the server's own paths stay on the server

            if dialect == "flat":  # the chat endpoint says it in OpenAI's error shape, the status the same
                chat = await client.post("v1/chat/completions", json={
                    "model": "polpo", "messages": [{"role": "user", "content": "x" * 300_000}]})
                assert chat.status_code == 507, chat.text
                error = chat.json()["error"]
                assert error["code"] == "insufficient_storage" and error["type"] == "server_error"
                assert "store cannot be written" in error["message"] and str(root) not in chat.text

                # so does the project as an MCP server: the tool's answer, not the server's files
                async with httpx2.AsyncClient(headers=AUTH, timeout=WAIT) as http, \
                        Client(streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=http)) as mcp:
                    tool = await mcp.call_tool("create_mission", _mission("during"))
                assert tool.is_error and "store cannot be written" in tool.content[0].text, tool.content
                assert str(root) not in tool.content[0].text

            # the server still answers; nothing of the refused write is there, the earlier one is whole
            listed = await client.get(prefix + "missions")
            assert listed.status_code == 200, listed.text
            missions = listed.json()["data"] if dialect == "project" else listed.json()
            assert [m["name"] for m in missions] == ["before"]

            await _disk(proc, root, "freed")
            again = await client.post(prefix + "missions", json=_mission("during"))
            assert again.status_code == 201, again.text
            listed = await client.get(prefix + "missions")
            missions = listed.json()["data"] if dialect == "project" else listed.json()
            assert sorted(m["name"] for m in missions) == ["before", "during"]
            assert all(len(m["tasks"][0]["description"]) == 300_000 for m in missions)
    finally:
        code = await asyncio.to_thread(stop_serve, proc)
    assert code == 0, log.read_text()
    said = log.read_text()
    assert "Traceback" not in said  # a full disk is the operator's to fix, not a server bug
    # the operator is told which file, and why
    assert f"failed: {root / '.polpo' / 'state.db'} cannot be written (" in said, said


#: The served project's agent: the first time, it fills the disk (as the signal does) and says so in the
#: marker; every time, it returns 300 KB, which the full disk refuses.
AGENTS = """
import resource
from pathlib import Path


def big(task, ctx):
    marker = Path(ctx.project_dir).parent / "disk"
    if not marker.exists():
        largest = max(f.stat().st_size for f in (Path(ctx.project_dir) / ".polpo").glob("state.db*"))
        resource.setrlimit(resource.RLIMIT_FSIZE, (largest, resource.RLIM_INFINITY))
        marker.write_text("full")
    return "x" * 300_000
"""


async def test_a_run_the_full_disk_stops_is_listed_resumable_and_resumed_over_http(tmp_path: Path):
    root = tmp_path / "full"
    root.mkdir()
    (root / "disk_agents.py").write_text(AGENTS)
    port = free_port()
    log = tmp_path / "serve.log"
    proc = await asyncio.to_thread(start_serve, root, port=port, key=KEY, log=log, cli=False,
                                   prelude=DISK.format(root=str(root)))
    api = "api/v1/projects/full/"
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/", headers=AUTH, timeout=WAIT) as client:
            created = await client.post(api + "missions", json={
                "name": "m", "team": {"agents": [{"name": "w", "handler": "disk_agents:big"}]},
                "tasks": [{"title": "a", "assignTo": "w"}, {"title": "b", "assignTo": "w", "dependsOn": ["a"]}]})
            assert created.status_code == 201, created.text
            mission_id = created.json()["data"]["id"]
            # execute streams the run's events until it settles: here, until it stops, said as the last event
            async with aconnect_sse(client, "POST", api + f"missions/{mission_id}/execute") as source:
                events = [sse async for sse in source.aiter_sse()]
            last = json.loads(events[-1].data)
            assert last["data"]["code"] == "INSUFFICIENT_STORAGE", events[-1].data
            assert last["data"]["error"] == ("mission 'm' stopped: the project's store cannot be written (disk I/O "
                                             "error). What it did before is kept; once the store can be written "
                                             "again (free disk space, or repair the file), resume it.")

            async def stopped() -> list:
                listed = (await client.get(api + "missions/resumable")).json()["data"]
                return [m for m in listed if m.get("pauseReason") == "store unwritable"]
            [listed] = await until(stopped)
            assert listed["name"] == "m" and listed["pauseMessage"] == last["data"]["error"]  # the file not named

            await _disk(proc, root, "freed")
            resumed = await client.post(api + f"missions/{mission_id}/resume")
            assert resumed.status_code == 200, resumed.text

            async def completed() -> dict | None:
                mission = (await client.get(api + f"missions/{mission_id}")).json()["data"]
                return mission if mission["status"] == "completed" else None
            mission = await until(completed)
            assert [(t["title"], t["status"], len(t["result"]["content"])) for t in mission["tasks"]] == [
                ("a", "done", 300_000), ("b", "done", 300_000)]
            assert (await client.get(api + "missions/resumable")).json()["data"] == []
    finally:
        code = await asyncio.to_thread(stop_serve, proc)
    assert code == 0, log.read_text()
    said = log.read_text()
    assert "Traceback" not in said and "never retrieved" not in said, said
    assert "mission 'm' stopped:" in said  # nobody waits on a server: the log is where it is said


async def test_a_run_the_full_disk_stopped_in_a_server_is_resumed_from_the_command_line(tmp_path: Path):
    """The user frees space, then runs `polpo resume m` in a shell: the server's process still owns the
    run, so the command travels to it through the store, and the run completes there."""
    from cli_project import polpo

    root = tmp_path / "full"
    root.mkdir()
    (root / "disk_agents.py").write_text(AGENTS)
    port = free_port()
    log = tmp_path / "serve.log"
    proc = await asyncio.to_thread(start_serve, root, port=port, key=KEY, log=log, cli=False,
                                   prelude=DISK.format(root=str(root)))
    api = "api/v1/projects/full/"
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/", headers=AUTH, timeout=WAIT) as client:
            created = await client.post(api + "missions", json={
                "name": "m", "team": {"agents": [{"name": "w", "handler": "disk_agents:big"}]},
                "tasks": [{"title": "a", "assignTo": "w"}]})
            mission_id = created.json()["data"]["id"]
            async with aconnect_sse(client, "POST", api + f"missions/{mission_id}/execute") as source:
                events = [sse async for sse in source.aiter_sse()]
            assert json.loads(events[-1].data)["data"]["code"] == "INSUFFICIENT_STORAGE"
            await _disk(proc, root, "freed")

            resumed = await asyncio.to_thread(polpo, "resume", "m", cwd=root)
            assert resumed.returncode == 0, (resumed.stdout, resumed.stderr)
            # the attempt the full disk cut off runs again, and the log says why it was requeued
            assert "in_progress -> pending  (requeued after its run stopped: the store refused a write)" in resumed.stdout
            assert "process running it died" not in resumed.stdout
            assert "mission m: completed" in resumed.stdout + resumed.stderr
            mission = (await client.get(api + f"missions/{mission_id}")).json()["data"]
            assert mission["status"] == "completed"
            assert [len(t["result"]["content"]) for t in mission["tasks"]] == [300_000]
    finally:
        code = await asyncio.to_thread(stop_serve, proc)
    assert code == 0, log.read_text()
