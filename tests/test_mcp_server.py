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
