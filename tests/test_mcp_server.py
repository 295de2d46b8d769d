"""`polpo mcp`: the project as an MCP server on stdio, driven by the official `mcp` client."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters
from mcp_scenario import drive, write_agents

import polpo_nb as polpo
from polpo_nb.mcp_stdin import claimed_stdin

WAIT = 60  # seconds: a hang is a failure, never a timing assertion


def _polpo() -> str:
    return shutil.which("polpo", path=str(Path(sys.executable).parent)) or "polpo"


async def test_polpo_mcp_serves_the_project_on_stdio(project_dir):
    write_agents(project_dir)
    server = StdioServerParameters(command=_polpo(), args=["mcp", "--project", str(project_dir)])
    async with Client(server) as client:
        await drive(client)
    with polpo.Project(project_dir) as project:  # what the client did is in the project
        assert project.get_mission("hello").status.value == "completed"
        assert [t.title for t in project.list_tasks() if t.group is None] == ["standalone"]


async def test_the_config_a_client_reads_shows_no_literal_secret(project_dir):
    (project_dir / "polpo.json").write_text(json.dumps({"mcpServers": {"web": {
        "type": "http", "url": "https://mcp.example/mcp",
        "headers": {"Authorization": "Bearer literal-secret", "X-Token": "${SOME_TOKEN}"}}}}))
    server = StdioServerParameters(command=_polpo(), args=["mcp", "--project", str(project_dir)])
    async with Client(server) as client:
        result = await client.call_tool("get_config", {})
    assert not result.is_error
    config = json.loads(result.content[0].text)
    assert config["mcpServers"]["web"]["headers"] == {"Authorization": "[redacted]", "X-Token": "${SOME_TOKEN}"}
    assert "literal-secret" not in result.content[0].text


async def test_the_file_tools_keep_to_the_project_not_the_projects_nested_in_it(project_dir):
    """A directory with its own `.polpo/` is another project: a client of this one (a project key's, on
    /mcp) listed and read it through `list_files` / `read_file`, which the REST files routes refuse."""
    (project_dir / "sub" / ".polpo").mkdir(parents=True)
    (project_dir / "sub" / "secret.txt").write_text("theirs")
    (project_dir / "mine.txt").write_text("ours")
    server = StdioServerParameters(command=_polpo(), args=["mcp", "--project", str(project_dir)])
    async with Client(server) as client:
        listed = json.loads((await client.call_tool("list_files", {"path": "."})).content[0].text)
        read = await client.call_tool("read_file", {"path": "sub/secret.txt"})
        mine = json.loads((await client.call_tool("read_file", {"path": "mine.txt"})).content[0].text)
    assert "sub/" not in [e["name"] for e in listed["entries"]] and "mine.txt" in [e["name"] for e in listed["entries"]]
    assert read.is_error and "another project" in read.content[0].text and "theirs" not in read.content[0].text
    assert mine["content"] == "ours"


INITIALIZE = ('{"jsonrpc": "2.0", "id": %s, "method": "initialize", "params": {"protocolVersion": "2025-06-18", '
              '"capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}}')


async def test_a_line_that_is_not_strict_json_is_answered_with_a_parse_error(project_dir):
    """A key given twice (the SDK alone kept the last: a client and the server could read two different
    requests), NaN, bytes that are not UTF-8 or a line that is no JSON at all: answered with JSON-RPC's
    parse error, id null, as `/mcp` over HTTP answers such a body; the lines around it are served."""
    process = await asyncio.create_subprocess_exec(
        _polpo(), "mcp", "--project", str(project_dir), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert process.stdin is not None and process.stdout is not None
    refused = [b'{"jsonrpc": "2.0", "id": 1, "id": 2, "method": "ping"}', b'{"jsonrpc": "2.0", "id": 3, '
               b'"method": "ping", "params": {"x": NaN}}', b'{"jsonrpc": "2.0", "id": 4, "method": "p\xffng"}',
               b"not json"]
    try:
        async with asyncio.timeout(WAIT):
            for line in refused:
                process.stdin.write(line + b"\n")
            process.stdin.write((INITIALIZE % 5).encode() + b"\n")
            await process.stdin.drain()
            answers = [json.loads(await process.stdout.readline()) for _ in range(len(refused) + 1)]
    finally:
        process.stdin.close()
        async with asyncio.timeout(WAIT):
            await process.wait()
    assert [(a["id"], a["error"]["code"]) for a in answers[:-1]] == [(None, -32700)] * len(refused)
    assert "duplicate key 'id'" in answers[0]["error"]["message"]
    assert "not a number JSON has" in answers[1]["error"]["message"]
    assert answers[-1]["id"] == 5 and answers[-1]["result"]["serverInfo"]["name"]
    assert process.returncode == 0


def test_while_it_serves_fd_0_reads_nothing_of_the_protocol(monkeypatch):
    """`claimed_stdin`: the protocol is read from a private duplicate of fd 0 while fd 0 reads the null
    device (a child that inherits stdin sees EOF, not the client's messages), and fd 0 is the protocol
    again once it is done."""
    saved = os.dup(0)
    reader, writer = os.pipe()
    try:
        os.dup2(reader, 0)
        monkeypatch.setattr(sys, "stdin", os.fdopen(0, "r", closefd=False))  # (pytest's own reads nothing)
        os.write(writer, b"the protocol\n")
        with claimed_stdin() as stdin:
            assert os.read(0, 100) == b""
            assert stdin.readline() == b"the protocol\n"
        os.write(writer, b"after\n")
        assert os.read(0, 100) == b"after\n"
    finally:
        os.dup2(saved, 0)
        for fd in (saved, reader, writer):
            os.close(fd)


@pytest.mark.parametrize(("fd", "name"), [(0, "stdin"), (1, "stdout")])
def test_polpo_mcp_with_stdin_or_stdout_closed_says_so_and_opens_nothing(tmp_path, fd, name):
    """Started without a stdin or a stdout (closed, not a pipe: a mistake in a launcher's config): one line
    saying what is wrong, exit 2, and the project is not opened (with the fd free, the database itself
    could have been given it, and taken for the protocol's stream)."""
    done = subprocess.run([_polpo(), "mcp", "--project", str(tmp_path)], preexec_fn=lambda: os.close(fd),  # noqa: PLW1509
                          stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=WAIT)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"polpo: {name} is closed") and "Traceback" not in done.stderr
    assert not (tmp_path / ".polpo").exists()
