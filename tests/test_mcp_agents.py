"""LLM agents using MCP servers: a real server written here with the SDK's MCPServer (FastMCP's new name
in mcp 2), over stdio and over streamable HTTP on 127.0.0.1, whose tools an agent calls through the real
provider path (pydantic-ai's OpenAI client against the loopback OpenAI-compatible server)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from support import EventLog, wait_for

import polpo_nb as polpo
from polpo_nb.agents.function import AgentUnavailableError
from polpo_nb.spec import MissionStatus, TaskStatus, to_jsonable
from polpo_nb.testing import LoopbackOpenAI, last_message, text, tool_call, tool_names

WAIT = 60
SECRET = "s3cret-value-for-the-server"

SERVER = textwrap.dedent('''
    import os, sys, time
    from pathlib import Path
    (Path(os.environ["MARKS_DIR"]) / f"spawned-{os.getpid()}").write_text("")  # before the slow imports
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    server = MCPServer("echo")
    MARKS = Path(os.environ["MARKS_DIR"])


    def mark(name, text):
        """Whole or not at all: the test reads a mark as soon as it exists."""
        (MARKS / f".{name}").write_text(text)
        os.replace(MARKS / f".{name}", MARKS / name)

    @server.tool()
    def shout(text: str) -> str:
        """Upper-case the text."""
        return text.upper() + "!"

    @server.tool()
    def token() -> str:
        """Whether the configured token reached the server."""
        return "token ok" if os.environ.get("SERVER_TOKEN") == "s3cret-value-for-the-server" else "no token"

    @server.tool()
    def read_file(path: str) -> str:
        """A name that collides with a built-in tool."""
        return "server read " + path

    @server.tool()
    def echo_read_file(path: str) -> str:
        """The name the server's read_file is offered as: the server offers it too."""
        return "server's own echo_read_file " + path

    @server.tool()
    def huge(size: int) -> str:
        """An answer of `size` characters."""
        return "x" * size

    @server.tool()
    def fail() -> str:
        """Always fails."""
        raise ToolError("the server says no")

    @server.tool()
    def spawn() -> str:
        """Start a helper process of the server's own (as a browser-driving server starts a browser)."""
        import subprocess
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        mark("helper", str(child.pid))
        return f"helper {child.pid}"

    @server.tool()
    def crash() -> str:
        """The server's process dies in the call."""
        os._exit(7)

    @server.tool()
    def hang() -> str:
        """Never answers."""
        mark("hang", str(os.getpid()))
        time.sleep(3600)
        return "never"

    mark(f"started-{os.getpid()}", str(os.getppid()))
    if len(sys.argv) > 1:
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[1]))
    else:
        server.run()
''')


@pytest.fixture
def server_script(tmp_path: Path) -> Path:
    path = tmp_path / "echo_server.py"
    path.write_text(SERVER)
    (tmp_path / "marks").mkdir()
    return path


def _servers_running(script: Path) -> list[psutil.Process]:
    """Processes (anywhere below this test) running the test's server script."""
    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if str(script) in " ".join(proc.cmdline()) and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.NoSuchProcess:
            continue
    return found


def _stdio(script: Path, **extra) -> dict:
    return {"command": sys.executable, "args": [str(script)],
            "env": {"MARKS_DIR": str(script.parent / "marks"), **extra}}


def _mission(agent: dict) -> dict:
    return {"name": "mcp", "prompt": "Use the server.",
            "tasks": [{"title": "shout", "description": "Shout hello", "assignTo": "caller"}],
            "team": {"agents": [{"name": "caller", "model": "local:m", **agent}]}}


def _calls_then_summary(*calls: tuple[str, dict]):
    """The model calls each tool in turn (one per request), then answers with the last tool result."""
    def reply(body: dict) -> dict:
        done = sum(1 for m in body["messages"] if m["role"] == "tool")
        if done < len(calls):
            return tool_call(*calls[done])
        return text("result: " + last_message(body)["content"])
    return reply


@pytest.fixture
def config_for(monkeypatch):
    monkeypatch.setenv("LOOPBACK_API_KEY", "k")

    def make(server: LoopbackOpenAI, **more) -> dict:
        return {"providers": {"local": {"baseUrl": server.base_url, "apiKeyEnv": "LOOPBACK_API_KEY"}},
                "mcpCommands": [sys.executable], **more}
    return make


def _logs(project: polpo.Project) -> list[str]:
    return [e.message for s in project.log_sessions() for e in project.log(s.session_id)]


def test_an_agent_calls_a_stdio_servers_tool_and_the_call_is_reported(project_dir, server_script, config_for,
                                                                      monkeypatch):
    monkeypatch.setenv("SERVER_TOKEN_SOURCE", SECRET)
    with LoopbackOpenAI(_calls_then_summary(("shout", {"text": "hello"}), ("fail", {}), ("token", {}))) as llm, \
            polpo.Project(project_dir, config=config_for(llm)) as project:
        log = EventLog(project)
        agent = {"mcpServers": {"echo": _stdio(server_script, SERVER_TOKEN="${SERVER_TOKEN_SOURCE}")}}
        record = project.execute(_mission(agent)).wait(WAIT)
        task = record.tasks[0]
        logs = _logs(project)
        answered = to_jsonable(project.get_mission("mcp"))

    assert record.status == MissionStatus.COMPLETED, task.result
    assert task.result.content == "result: token ok"
    offered = tool_names(llm.requests[0])
    assert {"shout", "token", "hang", "read_file", "write_file"} <= set(offered)
    assert "echo_echo_read_file" in offered  # the server's read_file collides with the built-in one (and the
    # server offers an `echo_read_file` of its own: test_a_huge_answer_is_cut_and_no_renamed_tool_hides_another)
    assert llm.requests[1]["messages"][-1]["content"] == "HELLO!"
    uses = [(d["tool"], d["args"], d["result"]) for d in log.of("task:tool_use")]
    assert ("shout", {"text": "hello"}, "HELLO!") in uses and ("token", {}, "token ok") in uses
    assert [(c["tool"], c["ok"]) for c in task.result.data["toolCalls"]] == [("shout", True), ("fail", False),
                                                                            ("token", True)]
    # a tool's error is answered to the model, which goes on
    assert "the server says no" in llm.requests[2]["messages"][-1]["content"]
    assert any(d["tool"] == "fail" and "the server says no" in d["result"] for d in log.of("task:tool_use"))
    assert any(line.startswith('[tool] shout({"text": "hello"}) -> HELLO!') for line in logs)
    assert any("[mcp] echo: started" in line and "echo_server.py" in line for line in logs)
    assert any("'read_file' is offered as 'echo_echo_read_file'" in line for line in logs)
    # the secret went to the server only; the reference is what is stored and answered
    assert all(SECRET not in line for line in logs)
    assert all(SECRET not in str(e.data) for e in log.events)
    env = answered["team"]["agents"][0]["mcpServers"]["echo"]["env"]
    assert env["SERVER_TOKEN"] == "${SERVER_TOKEN_SOURCE}" and env["MARKS_DIR"] == "[redacted]"
    assert _servers_running(server_script) == []
    assert len(list((server_script.parent / "marks").glob("started-*"))) == 1  # one server for the attempt


@pytest.fixture
def http_server(server_script: Path) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "MARKS_DIR": str(server_script.parent / "marks"), "SERVER_TOKEN": SECRET}
    proc = subprocess.Popen([sys.executable, str(server_script), str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def up() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0
    try:
        wait_for(up, WAIT)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.kill()
        proc.wait()


def test_a_project_wide_http_server_serves_every_llm_agent(project_dir, http_server, config_for):
    with LoopbackOpenAI(_calls_then_summary(("shout", {"text": "over http"}))) as llm, \
            polpo.Project(project_dir, config=config_for(
                llm, mcpServers={"web": {"type": "http", "url": http_server,
                                         "headers": {"X-Token": "${NOT_SET_ANYWHERE:-fallback}"}}})) as project:
        log = EventLog(project)
        record = project.execute(_mission({"allowedTools": ["shout", "write_file"]})).wait(WAIT)

    assert record.status == MissionStatus.COMPLETED
    assert record.tasks[0].result.content == "result: OVER HTTP!"
    assert sorted(tool_names(llm.requests[0])) == ["shout", "write_file"]  # allowedTools names MCP tools too
    assert ("shout", "OVER HTTP!") in [(d["tool"], d["result"]) for d in log.of("task:tool_use")]


def test_a_server_that_cannot_start_fails_the_attempt_naming_it(project_dir, config_for, tmp_path):
    missing = str(tmp_path / "no-such-server")
    with LoopbackOpenAI(_calls_then_summary()) as llm, \
            polpo.Project(project_dir, config=config_for(llm, mcpCommands=[missing])) as project:
        mission = _mission({"mcpServers": {"broken": {"command": missing, "args": ["--x"]}}})
        mission["tasks"][0]["maxRetries"] = 0
        record = project.execute(mission).wait(WAIT)
    task = record.tasks[0]
    assert record.status == MissionStatus.FAILED and task.status == TaskStatus.FAILED
    assert f"MCP server 'broken' ({missing} --x) did not start" in task.result.error
    assert llm.requests == []  # the model was never asked


def test_a_server_dying_in_a_call_fails_the_attempt_naming_it(project_dir, server_script, config_for):
    """The server's process exits while the model waits on its tool: the attempt's error said the
    transport's words alone (a closed connection), not which server went, nor that it died."""
    with LoopbackOpenAI(_calls_then_summary(("crash", {}))) as llm, \
            polpo.Project(project_dir, config=config_for(llm)) as project:
        mission = _mission({"mcpServers": {"echo": _stdio(server_script)}})
        mission["tasks"][0]["maxRetries"] = 0
        record = project.execute(mission).wait(WAIT)
    task = record.tasks[0]
    assert task.status == TaskStatus.FAILED
    last = task.result.error.strip().splitlines()[-1]
    assert "MCP server 'echo' (" in last and "stopped during a call to its tool 'crash'" in last, last
    assert len(llm.requests) == 1  # the model was not left to carry on without the server
    assert not _servers_running(server_script)


def test_a_missing_variable_fails_execute_at_once_naming_the_variable(project_dir, server_script, config_for):
    with LoopbackOpenAI(_calls_then_summary()) as llm, polpo.Project(project_dir, config=config_for(llm)) as project:
        mission = _mission({"mcpServers": {"echo": _stdio(server_script, TOKEN="${POLPO_TEST_UNSET_VAR}")}})
        with pytest.raises(AgentUnavailableError,
                           match="MCP server 'echo': environment variable POLPO_TEST_UNSET_VAR is not set"):
            project.execute(mission)
        record = project.get_mission("mcp")  # as for a missing provider key: a draft, no attempt
        assert record.status == MissionStatus.DRAFT and project.attempts(record.tasks[0].id) == []
    assert llm.requests == [] and _servers_running(server_script) == []


def test_a_variable_missing_when_the_attempt_starts_fails_it_naming_the_variable(tmp_path, monkeypatch):
    from polpo_nb.agents.mcp import McpServerError, resolve_references

    monkeypatch.delenv("POLPO_TEST_UNSET_VAR", raising=False)
    monkeypatch.setenv("POLPO_TEST_SET_VAR", "v")
    assert resolve_references({"A": "x-${POLPO_TEST_SET_VAR}-${POLPO_TEST_UNSET_VAR:-d}"}, "s") == {"A": "x-v-d"}
    with pytest.raises(McpServerError, match="s: environment variable POLPO_TEST_UNSET_VAR is not set"):
        resolve_references({"A": "${POLPO_TEST_UNSET_VAR}"}, "s")


def test_the_server_process_is_stopped_when_the_attempt_times_out(project_dir, server_script, config_for):
    with LoopbackOpenAI(_calls_then_summary(("hang", {}))) as llm, \
            polpo.Project(project_dir, config=config_for(llm)) as project:
        mission = _mission({"mcpServers": {"echo": _stdio(server_script)}})
        mission["tasks"][0].update(maxRetries=0, maxDuration=5000)
        record = project.execute(mission).wait(WAIT)
        wait_for(lambda: not _servers_running(server_script), WAIT)
    assert record.status == MissionStatus.FAILED and record.tasks[0].status == TaskStatus.FAILED
    assert list((server_script.parent / "marks").glob("spawned-*"))  # a server process had started


def test_no_process_a_server_started_outlives_the_attempt(project_dir, server_script, config_for):
    """The server exits by itself when the attempt ends (its stdin closes); a process it started (a
    browser, a language server) went on running: the SDK stops the process tree only when the server
    does not exit by itself."""
    with LoopbackOpenAI(_calls_then_summary(("spawn", {}))) as llm, \
            polpo.Project(project_dir, config=config_for(llm)) as project:
        record = project.execute(_mission({"mcpServers": {"echo": _stdio(server_script)}})).wait(WAIT)
        assert record.status == MissionStatus.COMPLETED, record.tasks[0].result
        helper = int((server_script.parent / "marks" / "helper").read_text())
        wait_for(lambda: not _servers_running(server_script), WAIT)
        wait_for(lambda: not psutil.pid_exists(helper) or psutil.Process(helper).status() == psutil.STATUS_ZOMBIE,
                 WAIT)


@pytest.mark.parametrize("how", ["kill", "abort"])
def test_the_server_process_is_stopped_when_the_attempt_is_killed_or_aborted(project_dir, server_script,
                                                                             config_for, how):
    hang_mark = server_script.parent / "marks" / "hang"
    with LoopbackOpenAI(_calls_then_summary(("hang", {}))) as llm, \
            polpo.Project(project_dir, config=config_for(llm)) as project:
        mission = _mission({"mcpServers": {"echo": _stdio(server_script)}})
        mission["tasks"][0]["maxRetries"] = 0
        run = project.execute(mission)
        wait_for(hang_mark.exists, WAIT)
        pid = int(hang_mark.read_text())
        assert [p.pid for p in _servers_running(server_script)] == [pid]
        if how == "kill":
            task_id = next(t.id for t in project.list_tasks() if t.title == "shout")
            project.kill_task(task_id)
        else:
            project.abort_mission("mcp")
        record = run.wait(WAIT)
        wait_for(lambda: not _servers_running(server_script), WAIT)
    assert record.status in (MissionStatus.FAILED, MissionStatus.CANCELLED)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_on_dask_the_server_starts_on_the_worker_with_the_workers_environment(project_dir, server_script,
                                                                              config_for):
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, processes=True, threads_per_worker=1, dashboard_address=None,
                      scheduler_kwargs={"dashboard_address": ":0"}, env={"WORKER_ONLY_TOKEN": SECRET}) as cluster, \
            Client(cluster, set_as_default=False) as client, \
            LoopbackOpenAI(_calls_then_summary(("token", {}))) as llm, \
            polpo.Project(project_dir, config=config_for(llm), executor=client) as project:
        agent = {"mcpServers": {"echo": _stdio(server_script, SERVER_TOKEN="${WORKER_ONLY_TOKEN}")}}
        task = project.execute(_mission(agent)).wait(WAIT).tasks[0]
        workers = {p.pid for p in psutil.Process().children(recursive=True)}

    assert task.status == TaskStatus.DONE and task.result.content == "result: token ok"
    [mark] = (server_script.parent / "marks").glob("started-*")
    parent = int(mark.read_text())
    assert parent != os.getpid() and parent in workers  # started by the worker, not by this process


def test_agents_take_mcp_servers_from_python_files_and_the_api_shows_no_literal_secret(project_dir, tmp_path):
    servers = {"gh": {"type": "http", "url": "https://mcp.example/mcp",
                      "headers": {"Authorization": "Bearer literal-secret", "X-Token": "${GH_TOKEN}"}},
               "local": {"command": "uvx", "args": ["some-server"], "env": {"KEY": "literal-key"}}}
    agent = polpo.Agent(name="dev", model="test", mcp_servers=servers)
    assert agent.mcp_servers["local"].type == "stdio" and agent.mcp_servers["gh"].headers["X-Token"] == "${GH_TOKEN}"
    shown = to_jsonable(agent)["mcpServers"]
    assert shown["gh"]["headers"] == {"Authorization": "[redacted]", "X-Token": "${GH_TOKEN}"}
    assert shown["local"]["env"] == {"KEY": "[redacted]"} and shown["local"]["args"] == ["some-server"]

    mission = polpo.Mission("m").task("T", assign_to="dev").agent(agent)
    path = tmp_path / "m.yaml"
    mission.dump(path)  # a file keeps what was written
    assert polpo.load_mission(path).team.agents[0].mcp_servers == agent.mcp_servers
    with polpo.Project(project_dir, config={"mcpCommands": ["uvx"]}) as project:
        project.add_agent(agent)
        assert project.list_agents()[0].mcp_servers == agent.mcp_servers  # the store keeps it whole too

    with pytest.raises(polpo.SpecError, match="type must be 'stdio'"):
        polpo.Agent(name="dev", mcp_servers={"x": {"type": "websocket", "url": "ws://x"}})
    with pytest.raises(polpo.SpecError, match="'bad name!' is not a server name"):
        polpo.Agent(name="dev", mcp_servers={"bad name!": {"command": "x"}})


def test_chatting_with_an_agent_gives_it_its_mcp_servers_for_the_turn(project_dir, server_script, config_for):
    with LoopbackOpenAI(_calls_then_summary(("shout", {"text": "chat"}))) as llm, \
            polpo.Project(project_dir, config=config_for(llm)) as project:
        project.add_agent({"name": "caller", "model": "local:m", "allowedTools": ["shout"],
                           "mcpServers": {"echo": _stdio(server_script)}})
        reply = project.chat("Shout 'chat'", agent="caller")
    assert reply.content == "result: CHAT!"
    assert tool_names(llm.requests[0]) == ["shout"]
    assert [c.name for c in reply.tool_calls] == ["shout"]
    assert _servers_running(server_script) == []


def test_tools_two_servers_share_are_prefixed_with_each_servers_name(project_dir, server_script, config_for):
    with LoopbackOpenAI(_calls_then_summary(("b_shout", {"text": "two"}))) as llm, \
            polpo.Project(project_dir, config=config_for(llm)) as project:
        agent = {"mcpServers": {"a": _stdio(server_script), "b": _stdio(server_script)}}
        task = project.execute(_mission(agent)).wait(WAIT).tasks[0]
    offered = set(tool_names(llm.requests[0]))
    assert {"a_shout", "b_shout", "a_read_file", "b_read_file", "read_file"} <= offered
    assert "shout" not in offered
    assert task.result.content == "result: TWO!"
    assert [c["tool"] for c in task.result.data["toolCalls"]] == ["b_shout"]
    assert len(list((server_script.parent / "marks").glob("started-*"))) == 2
    assert _servers_running(server_script) == []


def test_an_agent_given_as_data_runs_only_the_commands_the_config_lists(project_dir):
    """As a handler given as data must live in the project: a request or the chat must not start `sh`."""
    agent = {"name": "dev", "model": "test", "mcpServers": {"sh": {"command": "sh", "args": ["-c", "id"]},
                                                            "web": {"type": "http", "url": "https://x.example/mcp"}}}
    mission = {"name": "m", "tasks": [{"title": "T", "assignTo": "dev"}], "team": {"agents": [agent]}}
    with polpo.Project(project_dir) as project:
        with pytest.raises(polpo.SpecError, match="MCP server 'sh' runs 'sh', which the project config does not "
                                                  "list in mcpCommands") as info:
            project.add_agent(agent)
        assert info.value.errors[0]["loc"] == ["mcpServers", "sh", "command"]
        with pytest.raises(polpo.SpecError, match="mcpCommands") as info:
            project.save_mission(mission)
        assert info.value.errors[0]["loc"] == ["team", "agents", 0, "mcpServers", "sh", "command"]
        assert project.list_agents() == [] and project.list_missions() == []
    with polpo.Project(project_dir, config={"mcpCommands": ["sh"]}) as project:
        assert project.add_agent(agent).mcp_servers["sh"].command == "sh"


def test_a_huge_answer_is_cut_and_no_renamed_tool_hides_another(project_dir, server_script, config_for):
    """An MCP tool's answer reaches the model (and the attempt's stored steps, sent again at every turn)
    at most as long as a built-in tool's: 5 MB went whole. The server's `read_file` is offered as
    `echo_read_file`, a name the server also offers: both stay offered (the second hid the first)."""
    size = 5_000_000
    with LoopbackOpenAI(_calls_then_summary(("huge", {"size": size}))) as llm, \
            polpo.Project(project_dir, config=config_for(llm)) as project:
        record = project.execute(_mission({"mcpServers": {"echo": _stdio(server_script)}})).wait(WAIT)
    assert record.status == MissionStatus.COMPLETED, record.tasks[0].result
    answer = llm.requests[1]["messages"][-1]["content"]
    assert len(answer) < 110_000 and answer.endswith(f"...[truncated: the tool answered {size:,} characters]")
    offered = tool_names(llm.requests[0])
    assert offered.count("echo_read_file") == 1 and "echo_echo_read_file" in offered
