"""Exact resume with MCP tools (issue 22): an MCP tool call in flight at a SIGKILL runs again on resume
only when its server annotates it read-only or idempotent; any other is reported to the model as
interrupted by a crash, not run again."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support import WAIT, kill_when

import polpo_nb as polpo
from polpo_nb.spec import MissionStatus
from polpo_nb.testing import LoopbackOpenAI, text

#: `look` is read-only by its annotations, `launch` has none. Each appends its name to ran.txt; while
#: the project holds a file named `hold`, the call blocks after writing `in-flight`.
SERVER = textwrap.dedent('''
    import time
    from pathlib import Path
    from mcp.server.mcpserver import MCPServer
    from mcp.types import ToolAnnotations

    server = MCPServer("ops")

    def run(name: str) -> str:
        with Path("ran.txt").open("a") as fh:
            fh.write(name + "\\n")
        if Path("hold").exists():
            Path("in-flight").write_text(name)
            while Path("hold").exists():
                time.sleep(0.02)
        return name + " done"

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    def look() -> str:
        """Look at the system."""
        return run("look")

    @server.tool()
    def launch() -> str:
        """Launch the rocket."""
        return run("launch")

    server.run()
''')

CHILD = textwrap.dedent("""
    import json, sys, polpo_nb as polpo
    with polpo.Project(sys.argv[1]) as project:
        project.execute(polpo.Mission.model_validate(json.loads(sys.argv[2]))).wait()
""")


def _model(tool: str):
    def reply(body: dict) -> dict:
        if not any(m["role"] == "tool" for m in body["messages"]):
            return {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_op", "type": "function", "function": {"name": tool, "arguments": "{}"}}]}
        return text("finished")
    return reply


@pytest.mark.parametrize("tool", ["look", "launch"])
def test_an_mcp_call_in_flight_runs_again_only_when_its_server_says_it_may(project_dir: Path, tmp_path: Path,
                                                                            tool: str):
    (project_dir / "ops_server.py").write_text(SERVER)
    mission = {"name": "ops", "tasks": [{"title": "operate", "description": f"Call {tool}.", "assignTo": "op"}],
               "team": {"agents": [{"name": "op", "model": "local:m", "mcpServers": {"ops": {
                   "command": sys.executable, "args": ["ops_server.py"]}}}]}}
    (tmp_path / "child.py").write_text(CHILD)
    (project_dir / "hold").write_text("")
    with LoopbackOpenAI(_model(tool)) as model:
        (project_dir / "polpo.json").write_text(json.dumps({"providers": {"local": {"baseUrl": model.base_url}},
                                                            "mcpCommands": [sys.executable]}))
        child = subprocess.Popen([sys.executable, str(tmp_path / "child.py"), str(project_dir), json.dumps(mission)])
        kill_when(child, (project_dir / "in-flight").exists)
        (project_dir / "hold").unlink()  # the orphaned server's call ends; new calls do not block
        with polpo.Project(project_dir) as project:
            record = project.resume("ops").wait(WAIT)
            attempts = project.attempts(record.tasks[0].id)

    assert record.status == MissionStatus.COMPLETED and record.tasks[0].result.content == "finished"
    assert [a.status for a in attempts] == ["completed"]
    assert len(model.requests) == 2  # the first answer was stored: asked once, then the tool's result
    answer = [m for m in model.requests[1]["messages"] if m["role"] == "tool"][0]["content"]
    ran = (project_dir / "ran.txt").read_text().split()
    if tool == "look":  # read-only: runs again
        assert ran == ["look", "look"] and answer == "look done"
    else:  # no hint: reported, not run again
        assert ran == ["launch"] and answer.startswith("interrupted by a crash")
