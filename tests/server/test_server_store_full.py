"""A served project whose disk fills up: a write the store refuses is answered 507 Insufficient Storage
in the user's terms (nothing of it stored, nothing half-written, no server path in the body), the server
keeps answering, and the same request succeeds once space is freed. A run the full disk stops says so
at the end of its event stream, is listed as resumable, and is resumed over HTTP or from the command
line once space is freed.

The server is `polpo serve` in a process of its own, as the limit that stands for a full disk
(RLIMIT_FSIZE: no file of the process may grow past the store's largest) is the whole process's. The
tests fill and free the disk with a signal the served process handles, or an agent fills it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import httpx2
import openai
import pytest
from httpx_sse import aconnect_sse
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from server_helpers import WAIT, free_port, start_serve, stop_serve, until

from polpo_nb.testing import LoopbackOpenAI, text

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


async def _disk(server: Served, state: str) -> None:
    os.kill(server.proc.pid, signal.SIGUSR2)
    marker = server.root.parent / "disk"

    async def said() -> bool:
        return marker.exists() and marker.read_text() == state
    await until(said)


@dataclass
class Served:
    root: Path
    port: int
    proc: subprocess.Popen[bytes]
    log: Path
    client: httpx.AsyncClient


@asynccontextmanager
async def served(tmp_path: Path, files: dict[str, str]) -> AsyncIterator[Served]:
    """`polpo serve` of a project holding `files`, its disk filled and freed by `_disk`; it must stop
    cleanly (exit 0) at the end."""
    root = tmp_path / "full"
    root.mkdir()
    for name, content in files.items():
        (root / name).write_text(content)
    port = free_port()
    log = tmp_path / "serve.log"
    proc = await asyncio.to_thread(start_serve, root, port=port, key=KEY, log=log, cli=False,
                                   prelude=DISK.format(root=str(root)))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/", headers=AUTH, timeout=WAIT) as client:
            yield Served(root, port, proc, log, client)
    finally:
        code = await asyncio.to_thread(stop_serve, proc)
    assert code == 0, log.read_text()


@pytest.mark.parametrize("dialect", ["project", "flat"])
async def test_a_write_the_full_disk_refuses_is_507_and_succeeds_once_space_is_freed(tmp_path: Path, dialect: str):
    prefix = "api/v1/projects/full/" if dialect == "project" else "v1/"
    async with served(tmp_path, {"polpo.json": '{"orchestratorModel": "test"}'}) as server:
        client, root = server.client, server.root
        first = await client.post(prefix + "missions", json=_mission("before"))
        assert first.status_code == 201, first.text
        await _disk(server, "full")

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
                    Client(streamable_http_client(f"http://127.0.0.1:{server.port}/mcp", http_client=http)) as mcp:
                tool = await mcp.call_tool("create_mission", _mission("during"))
            assert tool.is_error and "store cannot be written" in tool.content[0].text, tool.content
            assert str(root) not in tool.content[0].text

        # the server still answers; nothing of the refused write is there, the earlier one is whole
        listed = await client.get(prefix + "missions")
        assert listed.status_code == 200, listed.text
        missions = listed.json()["data"] if dialect == "project" else listed.json()
        assert [m["name"] for m in missions] == ["before"]

        await _disk(server, "freed")
        again = await client.post(prefix + "missions", json=_mission("during"))
        assert again.status_code == 201, again.text
        listed = await client.get(prefix + "missions")
        missions = listed.json()["data"] if dialect == "project" else listed.json()
        assert sorted(m["name"] for m in missions) == ["before", "during"]
        assert all(len(m["tasks"][0]["description"]) == 300_000 for m in missions)
    said = server.log.read_text()
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


API = "api/v1/projects/full/"
STOPPED = ("mission 'm' stopped: the project's store cannot be written (disk I/O error). What it did before is "
           "kept; once the store can be written again (free disk space, or repair the file), resume it.")


async def _run_until_stopped(client: httpx.AsyncClient, titles: list[str]) -> str:
    """Mission `m`, a chain of `titles` played by `big`, executed: the stream of its events ends with
    an error event saying that it stopped. Returns its id."""
    created = await client.post(API + "missions", json={
        "name": "m", "team": {"agents": [{"name": "w", "handler": "disk_agents:big"}]},
        "tasks": [{"title": t, "assignTo": "w", **({"dependsOn": [titles[i - 1]]} if i else {})}
                  for i, t in enumerate(titles)]})
    assert created.status_code == 201, created.text
    mission_id: str = created.json()["data"]["id"]
    async with aconnect_sse(client, "POST", API + f"missions/{mission_id}/execute") as source:
        events = [sse async for sse in source.aiter_sse()]
    last = json.loads(events[-1].data)["data"]
    assert (last["code"], last["error"]) == ("INSUFFICIENT_STORAGE", STOPPED), events[-1].data  # the file not named
    return mission_id


async def test_a_run_the_full_disk_stops_is_listed_resumable_and_resumed_over_http(tmp_path: Path):
    async with served(tmp_path, {"disk_agents.py": AGENTS}) as server:
        client = server.client
        mission_id = await _run_until_stopped(client, ["a", "b"])

        async def stopped() -> list:
            listed = (await client.get(API + "missions/resumable")).json()["data"]
            return [m for m in listed if m.get("pauseReason") == "store unwritable"]
        [listed] = await until(stopped)
        assert (listed["name"], listed["pauseMessage"]) == ("m", STOPPED)

        await _disk(server, "freed")
        resumed = await client.post(API + f"missions/{mission_id}/resume")
        assert resumed.status_code == 200, resumed.text

        async def completed() -> dict | None:
            mission = (await client.get(API + f"missions/{mission_id}")).json()["data"]
            return mission if mission["status"] == "completed" else None
        mission = await until(completed)
        assert [(t["title"], t["status"], len(t["result"]["content"])) for t in mission["tasks"]] == [
            ("a", "done", 300_000), ("b", "done", 300_000)]
        assert (await client.get(API + "missions/resumable")).json()["data"] == []
    said = server.log.read_text()
    assert "Traceback" not in said and "never retrieved" not in said, said
    assert "mission 'm' stopped:" in said  # nobody waits on a server: the log is where it is said


async def test_a_run_the_full_disk_stopped_in_a_server_is_resumed_from_the_command_line(tmp_path: Path):
    """The user frees space, then runs `polpo resume m` in a shell: the server's process still owns the
    run, so the command travels to it through the store, and the run completes there."""
    from cli_project import polpo

    async with served(tmp_path, {"disk_agents.py": AGENTS}) as server:
        mission_id = await _run_until_stopped(server.client, ["a"])
        await _disk(server, "freed")

        resumed = await asyncio.to_thread(polpo, "resume", "m", cwd=server.root)
        assert resumed.returncode == 0, (resumed.stdout, resumed.stderr)
        # the attempt the full disk cut off runs again, and the log says why it was requeued
        assert "in_progress -> pending  (requeued after its run stopped: the store refused a write)" in resumed.stdout
        assert "process running it died" not in resumed.stdout
        assert "mission m: completed" in resumed.stdout + resumed.stderr
        mission = (await server.client.get(API + f"missions/{mission_id}")).json()["data"]
        assert mission["status"] == "completed"
        assert [len(t["result"]["content"]) for t in mission["tasks"]] == [300_000]


async def test_a_chat_stream_the_full_disk_stops_midway_ends_with_507s_error_and_the_turn_can_be_sent_again(
        tmp_path: Path):
    """The orchestrator's answer arrives after the disk filled: the turn cannot store it. The stream
    (already begun, so its status cannot change) ends with an error that says so in OpenAI's shape, as
    the request would have been answered before it began: not the provider's fault (502), and not the
    server's file. Once space is freed, the same turn sent again is answered and stored."""
    server: list[Served] = []

    def orchestrator(body: dict) -> dict:
        if not (server[0].root.parent / "disk").exists():  # the first answer: the disk fills before it arrives
            os.kill(server[0].proc.pid, signal.SIGUSR2)
            marker = server[0].root.parent / "disk"
            while not (marker.exists() and marker.read_text() == "full"):
                time.sleep(0.01)
        return text("y" * 300_000)

    with LoopbackOpenAI(orchestrator) as loopback:
        config = {"orchestratorModel": "local:orchestrator", "providers": {"local": {"baseUrl": loopback.base_url}}}
        async with served(tmp_path, {"polpo.json": json.dumps(config)}) as running:
            server.append(running)
            chat = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{running.port}/v1", api_key=KEY, max_retries=0,
                                      timeout=WAIT)
            said: list[str] = []
            with pytest.raises(openai.APIError) as failed:
                async for chunk in await chat.chat.completions.create(
                        model="polpo", messages=[{"role": "user", "content": "hello"}], stream=True):
                    said.extend(choice.delta.content or "" for choice in chunk.choices)
            error = failed.value.body
            assert isinstance(error, dict) and (error["code"], error["type"]) == ("insufficient_storage", "server_error")
            assert "store cannot be written" in error["message"] and "send it again" in error["message"]
            assert str(running.root) not in error["message"]

            await _disk(running, "freed")
            again = await chat.chat.completions.create(model="polpo", messages=[{"role": "user", "content": "hello"}])
            assert again.choices[0].message.content == "y" * 300_000
            sessions = (await running.client.get("v1/chat/sessions")).json()
            stored = [(await running.client.get(f"v1/chat/sessions/{s['id']}/messages")).json() for s in sessions]
            answers = [m["content"] for messages in stored for m in messages if m["role"] == "assistant"]
            assert len(sessions) == 2 and sum(m["role"] == "user" for messages in stored for m in messages) == 2
            assert answers == ["y" * 300_000]  # the refused answer is not stored, half or whole
    log = running.log.read_text()
    assert "Traceback" not in log, log
    assert f"{running.root / '.polpo' / 'state.db'} cannot be written (" in log, log
