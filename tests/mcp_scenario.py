"""What an MCP client does with a project, the same against every face (`polpo mcp` on stdio, `/mcp` on
`polpo serve`, `{base_url}polpo/mcp` on Jupyter): list the tools, create a task, run a mission with a
function agent to completion through tool calls, read it back, and get a tool error for a bad call."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mcp import Client

AGENTS = '''
def greet(task, ctx):
    return {"content": f"hello from {task.title}", "data": {"n": 1}}
'''


def write_agents(project_dir: Path) -> None:
    """A function agent the project may name as `handler: mcp_agents:greet` (a module of the project)."""
    (project_dir / "mcp_agents.py").write_text(AGENTS)


async def call(client: Client, tool: str, **arguments: Any) -> Any:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    return json.loads(result.content[0].text)


async def drive(client: Client) -> None:
    listed = await client.list_tools()
    tools = {t.name: t for t in listed.tools}
    assert {"create_task", "create_mission", "execute_mission", "wait_for_mission", "get_mission",
            "approve_task", "read_file", "get_logs"} <= set(tools)
    assert "assignTo" in tools["create_task"].input_schema["properties"]  # the models' wire schema

    agent = await call(client, "add_agent", name="greeter", handler="mcp_agents:greet")
    assert agent["name"] == "greeter"
    task = await call(client, "create_task", title="standalone", assignTo="greeter")
    assert task["status"] == "draft" and task["id"].startswith("task")

    await call(client, "create_mission", name="hello", prompt="Say hello",
               tasks=[{"title": "first", "assignTo": "greeter"},
                      {"title": "second", "assignTo": "greeter", "dependsOn": ["first"]}])
    started = await call(client, "execute_mission", mission="hello")
    assert started["missionId"].startswith("msn") and "wait_for_mission" in started["note"]
    settled = await call(client, "wait_for_mission", mission="hello", timeoutSeconds=60)
    assert settled["settled"] and settled["status"] == "completed"
    assert [t["result"] for t in settled["tasks"]] == ["hello from first", "hello from second"]

    mission = await call(client, "get_mission", mission="hello")
    assert mission["status"] == "completed"
    assert [t["status"] for t in mission["tasks"]] == ["done", "done"]

    failed = await client.call_tool("get_task", {"taskId": "task_nosuch"})
    assert failed.is_error and "not found" in failed.content[0].text.lower()
    invalid = await client.call_tool("create_task", {"title": 3})
    assert invalid.is_error and "invalid arguments" in invalid.content[0].text
