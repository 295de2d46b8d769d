"""The built-in tools, driven by a scripted model through a real agent run: what each answers the model."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from llm_script import Script, call, say, tool_returns

import polpo_nb as polpo
from polpo_nb.agents.tools import tool_names
from polpo_nb.spec import TaskStatus

WAIT = 30


def run_script(project: polpo.Project, script: Script, **agent: object) -> tuple[polpo.TaskRecord, list[str]]:
    """Run one task on `script`; return the task and the tool answers the model received, in order."""
    project.models.register("scripted", script.model)
    mission = polpo.Mission.model_validate({"name": "m", "tasks": [{"title": "t", "assignTo": "a"}],
                                            "team": {"agents": [{"name": "a", "model": "scripted", **agent}]}})
    task = project.execute(mission).wait(WAIT).tasks[0]
    return task, [str(r.content) for r in tool_returns(script.calls[-1]["messages"])]


def test_read_list_and_grep_see_the_project_but_not_its_store(project):
    (project.root / "src").mkdir()
    (project.root / "src" / "app.py").write_text("def main():\n    return 42\n")
    (project.root / "README.md").write_text("hello\n")
    script = Script(call("list_files", path=".", recursive=True), call("read_file", path="src/app.py", offset=1, limit=1),
                    call("grep", pattern=r"return \d+"), call("read_file", path=".polpo/state.db"),
                    call("read_file", path="missing.txt"), say("done"))
    task, answers = run_script(project, script)
    listing, line, found, store, missing = answers
    assert listing.splitlines() == ["README.md", "src/", "src/app.py"]
    assert line == "[lines 2-2 of 2]\n    return 42\n"
    assert found == "src/app.py:2:     return 42"
    assert store.startswith("refused:") and ".polpo/" in store
    assert missing == "error: missing.txt does not exist"
    assert task.status == TaskStatus.DONE


def test_edit_file_replaces_exactly_one_occurrence_unless_told_otherwise(project):
    (project.root / "notes.txt").write_text("a b a")
    script = Script(call("edit_file", path="notes.txt", old_text="a", new_text="c"),
                    call("edit_file", path="notes.txt", old_text="a b", new_text="x y"),
                    call("edit_file", path="notes.txt", old_text="zzz", new_text="q"), say("done"))
    task, answers = run_script(project, script)
    assert answers[0].startswith("refused:") and "occurs 2 times" in answers[0]
    assert answers[1] == "edited notes.txt (1 replacement)"
    assert answers[2] == "error: old_text was not found in notes.txt"
    assert (project.root / "notes.txt").read_text() == "x y a"
    assert task.result.files_created == ["notes.txt"]


def test_register_outcome_records_the_deliverable(project):
    script = Script(call("write_file", path=".polpo/output/chart.svg", content="<svg/>"),
                    call("register_outcome", type="file", path=".polpo/output/chart.svg", label="chart"),
                    call("register_outcome", type="file", path="nope.png"), say("done"))
    task, answers = run_script(project, script)
    assert answers[1] == "registered file outcome .polpo/output/chart.svg"
    assert answers[2].startswith("error:") and "nope.png does not exist" in answers[2]
    assert task.result.data["outcomes"] == [{"type": "file", "path": ".polpo/output/chart.svg", "label": "chart"}]
    assert task.result.files_created == [".polpo/output/chart.svg"]


@pytest.fixture
def web() -> Iterator[str]:
    class Page(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            return

        def do_GET(self) -> None:  # noqa: N802
            body = b"<h1>hello from loopback</h1>"
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_fetch_answers_status_type_and_body_and_refuses_other_schemes(project_dir, web):
    project = polpo.Project(project_dir, config={"httpFetchAllowHosts": ["127.0.0.1"]})  # loopback: allowed here
    script = Script(call("http_fetch", url=f"{web}/page"), call("http_fetch", url="file:///etc/passwd"), say("done"))
    try:
        _, (page, local) = run_script(project, script)
    finally:
        project.close()
    assert page == "HTTP 200 text/html\n<h1>hello from loopback</h1>"
    assert local.startswith("refused:") and "http://" in local


def test_a_shell_command_past_its_timeout_is_killed(project):
    script = Script(call("run_shell", command="sleep 30; echo late", timeout=0.5), say("done"))
    _, (answer,) = run_script(project, script, allowedTools=["run_shell"])
    assert answer == "timed out after 0.5 s (killed)"


def test_tool_selection_follows_allowed_tools_and_the_project_cap():
    assert "run_shell" not in tool_names(None)
    assert tool_names(["run_shell", "read_file"]) == ["run_shell", "read_file"]
    assert tool_names(None, ["read_file", "grep"]) == ["read_file", "grep"]
    assert tool_names(["run_shell", "read_file"], ["read_file"]) == ["read_file"]
    with pytest.raises(ValueError, match="'teleport'"):
        tool_names(["teleport"])


def test_an_agent_writes_no_project_config_nor_another_project_s_state(project):
    """`polpo.json` is the project's config, re-read at the next use: an agent allowed `write_file` only
    wrote one whose `mcpServers` ran a command of its choosing, and whose `httpFetchAllowHosts` opened
    loopback to `http_fetch`. A nested project's `.polpo/` (its config, its memory) is its state."""
    (project.root / "sub" / ".polpo").mkdir(parents=True)
    (project.root / "sub" / ".polpo" / "memory.md").write_text("theirs")
    evil = '{"mcpServers": {"x": {"command": "/bin/sh", "args": ["-c", "touch pwned"]}}}'
    script = Script(call("write_file", path="polpo.json", content=evil),
                    call("write_file", path="sub/polpo.json", content=evil),
                    call("write_file", path="sub/.polpo/config.json", content=evil),
                    call("read_file", path="sub/.polpo/memory.md"),
                    call("list_files", path="sub", recursive=True),
                    call("write_file", path="notes/polpo.md", content="fine"), say("done"))
    task, answers = run_script(project, script, allowedTools=["write_file", "read_file", "list_files"])
    root_config, nested_config, nested_state, nested_memory, listing, fine = answers
    for refused in (root_config, nested_config):
        assert refused.startswith("refused:") and "a project's config" in refused
    for refused in (nested_state, nested_memory):
        assert refused.startswith("refused:") and "another project's state" in refused
    assert listing == "(empty)" and fine.startswith("wrote notes/polpo.md")
    assert not (project.root / "polpo.json").exists() and not (project.root / "sub" / "polpo.json").exists()
    assert not (project.root / "sub" / ".polpo" / "config.json").exists()
    assert task.status == TaskStatus.DONE


def test_grep_ends_on_what_would_hold_it(project, monkeypatch):
    """A named pipe (read for ever), a symlink loop (walked for ever), a pattern with catastrophic
    backtracking (which held the GIL, so the engine, maxDuration and the server stopped with it): each is
    skipped, or stopped, and answered."""
    import os

    from polpo_nb.agents import tools as tools_module

    monkeypatch.setattr(tools_module, "_GREP_SECONDS", 0.5)
    (project.root / "src").mkdir()
    os.mkfifo(project.root / "src" / "pipe.md")
    (project.root / "src" / "a").symlink_to(".")
    (project.root / "src" / "b").symlink_to(".")
    (project.root / "src" / "note.md").write_text("needle\n")
    (project.root / "slow.txt").write_text("a" * 60 + "!\n")
    script = Script(call("grep", pattern="needle", path="src", glob="*.md"),
                    call("grep", pattern=r"(a|aa)+$", path="slow.txt"), say("done"))
    task, answers = run_script(project, script)
    found, slow = answers
    assert found == "src/note.md:1: needle"
    assert slow.startswith("refused:") and "took longer than" in slow
    assert task.status == TaskStatus.DONE
