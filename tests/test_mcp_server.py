"""`polpo mcp`: the project as an MCP server on stdio, driven by the official `mcp` client."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from mcp import Client, StdioServerParameters
from mcp_scenario import drive, write_agents

import polpo_nb as polpo


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
