"""`%polpo` and `%%polpo`, driven through an IPython InteractiveShell."""

from __future__ import annotations

import json
import os
import textwrap
import threading
from types import SimpleNamespace

import pandas as pd
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

import polpo_nb as polpo
from polpo_nb.notebook import magics as magics_module
from polpo_nb.notebook.magics import PolpoMagics
from polpo_nb.spec import MissionStatus, TaskStatus

WAIT = 30


@pytest.fixture
def shell(project):
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "polpo_nb")
    magics: PolpoMagics = ip.magics_manager.registry["PolpoMagics"]
    saved = dict(ip.user_ns)
    ip.user_ns["project"] = project
    yield ip
    magics._pinned = None
    for opened in magics._opened.values():
        opened.close()
    magics._opened.clear()
    ip.user_ns.clear()
    ip.user_ns.update(saved)


@pytest.fixture
def team(project):
    project.agent("w")(lambda task, ctx: f"did {task.title}")
    return project


def line(ip, text):
    return ip.run_line_magic("polpo", text)


def cell(ip, args, body):
    return ip.run_cell_magic("polpo", args, textwrap.dedent(body))


def refused(call, *args) -> str:
    """What a magic that must refuse says: IPython's UsageError, which a notebook shows as one message
    without a traceback, and which stops "Run All" at that cell."""
    with pytest.raises(UsageError) as info:
        call(*args)
    return str(info.value)


MISSION_YAML = """
name: notes
tasks:
  - title: draft
    assignTo: w
  - title: publish
    assignTo: w
    dependsOn: [draft]
    sideEffects: true
"""


def test_load_ext_registers_line_and_cell_magics_with_help(shell):
    magics = shell.magics_manager.magics
    assert "polpo" in magics["line"] and "polpo" in magics["cell"]
    doc = shell.find_line_magic("polpo").__doc__
    for word in ("status", "missions", "tasks", "run", "resume", "abort", "approve", "reject", "%%polpo mission",
                 "%%polpo chat", "--retry-failed", "--status", "--agent", "--new", "--session", "--raw"):
        assert word in doc


def test_unknown_subcommand_is_a_usage_error_with_the_usage(shell):
    err = refused(line, shell, "frobnicate")
    assert "unknown %polpo subcommand 'frobnicate'" in err and "usage:" in err


def test_bad_option_is_a_usage_error_with_the_usage(shell):
    err = refused(line, shell, "tasks --bogus")
    assert "unrecognized arguments: --bogus" in err and "usage:" in err


def test_an_unclosed_quote_is_a_usage_error_not_shlex_traceback(shell):
    err = refused(line, shell, "run 'release notes")
    assert "No closing quotation" in err and "usage:" in err


def test_unknown_cell_subcommand_is_a_usage_error(shell):
    assert "unknown %%polpo subcommand 'chatter'" in refused(cell, shell, "chatter", "hello")


def test_a_refused_magic_stops_run_all_with_one_message_and_no_traceback(shell, team, capsys):
    """In a cell, a refusal is an error of that cell (what stops "Run All", nbclient and papermill; a
    printed message let the next cells run as if the task had been approved), shown without a traceback."""
    result = shell.run_cell("%polpo approve nothing-waits")
    assert isinstance(result.error_in_exec, UsageError)
    err = capsys.readouterr().err
    assert "UsageError: polpo approve: no task with id 'nothing-waits'" in err and "Traceback" not in err


def test_an_unknown_status_filter_is_refused(shell, team):
    assert "'complete' is not a task status" in refused(line, shell, "tasks --status complete")
    assert "'done' is not a mission status" in refused(line, shell, "missions --status done")


def test_status_lists_missions_approvals_and_resumable_runs(shell, team, capsys):
    team.execute(polpo.Mission("ship").task("deploy", assign_to="w", side_effects=True)).wait(WAIT)
    mission = (polpo.Mission("cp").task("a", assign_to="w").task("b", assign_to="w", depends_on=["a"])
               .checkpoint("look", after=["a"], message="have a look"))
    team.execute(mission).wait(WAIT)
    line(shell, "status")
    out = capsys.readouterr().out
    assert f"project {team.id!r}" in out
    assert "ship" in out and "cp" in out and "have a look" in out
    deploy = team.get_mission("ship").tasks[0]
    assert f"%polpo approve {deploy.id}" in out
    assert "%polpo resume cp" in out


def test_missions_and_tasks_display_dataframes(shell, team, monkeypatch):
    shown = []
    monkeypatch.setattr(magics_module, "display", shown.append)
    team.execute(polpo.Mission("m").task("a", assign_to="w").task("b", assign_to="w", side_effects=True)).wait(WAIT)
    team.execute(polpo.Mission("other").task("c", assign_to="w")).wait(WAIT)
    line(shell, "missions")
    line(shell, "missions --status completed")
    line(shell, "tasks --status awaiting_approval")
    line(shell, "tasks --mission m")
    missions, completed, waiting, of_m = shown
    assert isinstance(missions, pd.DataFrame)
    assert missions.set_index("name")["awaiting_approval"].to_dict() == {"m": 1, "other": 0}
    assert list(completed["name"]) == ["other"]
    assert list(waiting["title"]) == ["b"]
    assert list(of_m["title"]) == ["a", "b"]


def test_run_a_saved_mission_by_name_returns_its_handle(shell, team):
    team.save_mission(polpo.Mission("saved").task("a", assign_to="w"))
    run = line(shell, "run saved")
    assert isinstance(run, polpo.RunHandle)
    assert run.wait(WAIT).status == MissionStatus.COMPLETED


def test_run_a_mission_file(shell, team, tmp_path):
    path = tmp_path / "mission.yaml"
    path.write_text(MISSION_YAML)
    run = line(shell, f"run {path}")
    record = run.wait(WAIT)
    assert record.name == "notes" and [t.status for t in record.tasks] == [TaskStatus.DONE, TaskStatus.AWAITING_APPROVAL]


def test_approve_and_reject_by_title_or_id(shell, team, capsys):
    record = team.execute(polpo.Mission("m").task("deploy", assign_to="w", side_effects=True)
                          .task("announce", assign_to="w", side_effects=True)).wait(WAIT)
    ids = {t.title: t.id for t in record.tasks}
    line(shell, "approve deploy --note lgtm")
    line(shell, f"reject {ids['announce']}")
    out = capsys.readouterr().out
    assert "'deploy' approved: done" in out and "'announce' rejected: failed" in out
    assert team.get_task(ids["deploy"]).status == TaskStatus.DONE


def test_approving_a_task_that_does_not_wait_prints_why(shell, team, capsys):
    team.execute(polpo.Mission("m").task("a", assign_to="w")).wait(WAIT)
    err = refused(line, shell, "approve a")
    assert "no task titled 'a' awaits approval" in err and "Traceback" not in err


def test_resume_with_retry_failed(shell, project, capsys):
    calls = {"n": 0}

    @project.agent("flaky")
    def flaky(task, ctx):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("first time unlucky")
        return "ok"

    assert project.execute(polpo.Mission("m").task("a", assign_to="flaky", max_retries=0)).wait(WAIT).status == MissionStatus.FAILED
    assert "retryFailed" in refused(line, shell, "resume m")
    run = line(shell, "resume m --retry-failed")
    assert run.wait(WAIT).status == MissionStatus.COMPLETED


def test_quoted_names_with_spaces_are_the_names_as_status_suggests(shell, project, capsys):
    """`%polpo status` suggests `%polpo resume "my mission"`: the quotes are not part of the name (they
    were, so that very command answered "Mission not found")."""
    project.agent("w")(lambda task, ctx: "ok")
    mission = (polpo.Mission("my mission").task("first step", assign_to="w")
               .task("next step", assign_to="w", depends_on=["first step"]).checkpoint("look", after=["first step"]))
    assert project.execute(mission).wait(WAIT).pause_reason == "checkpoint"
    line(shell, "status")
    assert '%polpo resume "my mission"' in capsys.readouterr().out
    assert line(shell, 'resume "my mission"').wait(WAIT).status == MissionStatus.COMPLETED
    run = line(shell, "rerun 'my mission' --from 'next step'")
    assert run.wait(WAIT).status == MissionStatus.COMPLETED
    assert line(shell, 'rerun "my mission" --from "next step"').wait(WAIT).status == MissionStatus.COMPLETED


def test_abort_a_running_mission(shell, project, capsys):
    release = threading.Event()
    project.agent("slow")(lambda task, ctx: release.wait(WAIT) and "ok")
    project.execute(polpo.Mission("long").task("wait", assign_to="slow"))
    line(shell, "abort long")
    release.set()
    assert "mission 'long' is cancelled" in capsys.readouterr().out


def test_cell_magic_saves_a_yaml_mission_and_displays_it(shell, team):
    record = cell(shell, "mission", MISSION_YAML)
    assert isinstance(record, polpo.MissionRecord) and record.status == MissionStatus.DRAFT
    assert 'polpo-status-draft' in record._repr_mimebundle_()["text/html"]
    # running the cell again with a changed body updates the same mission
    again = cell(shell, "mission", MISSION_YAML.replace("title: publish", "title: release").replace("[draft]", "[draft]"))
    assert again.id == record.id and [t.title for t in again.tasks] == ["draft", "release"]


def test_cell_magic_takes_json_and_runs_it(shell, team):
    body = json.dumps({"name": "j", "tasks": [{"title": "a", "assignTo": "w"}]})
    run = cell(shell, "mission --run", body)
    assert run.wait(WAIT).status == MissionStatus.COMPLETED


def test_cell_magic_runs_a_notebook_task_and_reports_a_path_outside_the_project(shell, team, project_dir, capsys):
    from notebook_files import write_notebook

    write_notebook(project_dir / "n.ipynb", ("parameters", "x = 0"), "x + len(polpo_upstream['a']['content'])")
    body = "name: nb\ntasks:\n  - title: a\n    assignTo: w\n  - title: n\n    notebook: n.ipynb\n" \
           "    parameters: {x: 36}\n    dependsOn: [a]\n"
    record = cell(shell, "mission --run", body).wait(WAIT)
    assert record.status == MissionStatus.COMPLETED and record.tasks[1].result.content == "41"  # 36 + len("did a")
    err = refused(cell, shell, "mission", body.replace("n.ipynb", "../n.ipynb"))
    assert "tasks.1.notebook: notebook '../n.ipynb' must be a path inside the project" in err and "Traceback" not in err


def test_cell_magic_reports_an_invalid_mission(shell, team, capsys):
    err = refused(cell, shell, "mission", "name: bad\ntasks:\n  - title: a\n    assignTo: w\n    dependsOn: [nope]\n")
    assert "tasks.0.dependsOn.0: unknown task 'nope'" in err and "Traceback" not in err


def test_the_only_project_in_the_namespace_is_used(shell, team, capsys):
    shell.user_ns["proj"] = shell.user_ns.pop("project")
    line(shell, "status")
    assert f"project {team.id!r}" in capsys.readouterr().out


def test_two_projects_and_no_project_variable_is_a_usage_error(shell, team, tmp_path, capsys):
    other = tmp_path / "other"
    other.mkdir()
    with polpo.Project(other) as second:
        shell.user_ns["a"], shell.user_ns["b"] = shell.user_ns.pop("project"), second
        assert "several projects in the namespace (a, b)" in refused(line, shell, "status")
        line(shell, "use b")
        line(shell, "status")
        assert "project 'other'" in capsys.readouterr().out


def test_without_a_project_variable_the_working_directory_is_used(shell, tmp_path, capsys, monkeypatch):
    shell.user_ns.pop("project")
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    line(shell, "status")
    assert "project 'here'" in capsys.readouterr().out
    assert (here / ".polpo").is_dir()


def test_use_a_path(shell, tmp_path, capsys):
    there = tmp_path / "there"
    there.mkdir()
    line(shell, f"use {there}")
    line(shell, "status")
    assert "project 'there'" in capsys.readouterr().out
    err = refused(line, shell, f"use {os.path.join(str(tmp_path), 'missing')}")
    assert "neither a polpo.Project variable nor a directory" in err


# -- %%polpo chat (scripted orchestrator models: tests/chat_script.py) ------------------------------------


@pytest.fixture
def chatty(shell, tmp_path):
    """A project whose orchestrator is the scripted model `scripted`, as the notebook's `project`."""
    (tmp_path / "chat").mkdir()
    chat_project = polpo.Project(tmp_path / "chat", config={"orchestratorModel": "scripted"})
    chat_project.agent("w", role="writer")(lambda task, ctx: f"{task.title}: done")
    shell.user_ns["project"] = chat_project
    yield chat_project
    chat_project.close()


def orchestrate(project, *steps):
    from chat_script import StreamScript

    script = StreamScript(*steps)
    project.models.register("scripted", script.model)
    return script


def echo(messages, info):
    from chat_script import say
    from llm_script import user_prompts

    return say(f"You said: {user_prompts(messages)[-1]}")


def test_chat_streams_the_reply_with_variables_from_the_notebook(shell, chatty, capsys):
    script = orchestrate(chatty, echo)
    shell.user_ns["mission_name"] = "launch"
    shell.user_ns["record"] = SimpleNamespace(name="w", _secret="no")
    assert cell(shell, "chat", 'How is {mission_name} doing? ({record.name}, {record._secret}, {unknown}, {"json": 1})') is None
    out = capsys.readouterr().out
    assert out == 'You said: How is launch doing? (w, {record._secret}, {unknown}, {"json": 1})\n'
    assert script.streamed == 1  # the model was asked for a stream, not a whole answer
    reply = shell.magics_manager.registry["PolpoMagics"].last_chat
    assert reply.content == out.rstrip("\n")


def test_chat_raw_sends_the_cell_as_written(shell, chatty, capsys):
    orchestrate(chatty, echo)
    shell.user_ns["x"] = 42
    cell(shell, "chat --raw", "value {x}")
    assert capsys.readouterr().out == "You said: value {x}\n"


def test_chat_prints_text_as_it_arrives():
    """stream_reply writes each delta when it comes, not the whole answer at the end."""
    from polpo_nb.chat import ChatChunk, ChatReply, ChatStream, ToolCall
    from polpo_nb.notebook.chat_cell import stream_reply

    class Writes(list):
        def write(self, text):
            self.append(text)

        def flush(self):
            pass

    stream = ChatStream("chs_1")
    for chunk in (ChatChunk(kind="text", text="Two "), ChatChunk(kind="text", text="missions."),
                  ChatChunk(kind="tool_call", tool_call=ToolCall(id="c1", name="list_missions", arguments={"status": "active"})),
                  ChatChunk(kind="text", text="Done."),
                  ChatChunk(kind="done", reply=ChatReply(session_id="chs_1", content="Two missions.Done."))):
        stream.push(chunk)
    out = Writes()
    reply = stream_reply(stream, out=out)
    assert reply.content == "Two missions.Done."
    assert [w for w in out if w][:2] == ["Two ", "missions."]  # written as they came, one delta at a time
    assert "".join(out) == 'Two missions.\n→ list_missions({"status": "active"})\nDone.\n'


def test_chat_cells_continue_one_conversation_and_show_tool_calls(shell, chatty, capsys):
    from chat_script import call, say
    from llm_script import user_prompts

    chatty.save_mission(polpo.Mission("launch").task("draft", assign_to="w"))
    script = orchestrate(chatty, call("list_missions"), say("There is one mission: launch."),
                         lambda messages, info: say(f"I remember {len(user_prompts(messages))} questions."))
    cell(shell, "chat", "Which missions are there?")
    first = capsys.readouterr().out
    assert first.startswith("→ list_missions({})\n") and first.endswith("There is one mission: launch.\n")
    cell(shell, "chat", "And now?")
    assert capsys.readouterr().out == "I remember 2 questions.\n"  # the second cell continued the session
    cell(shell, "chat --new", "Fresh start?")
    assert capsys.readouterr().out == "I remember 1 questions.\n"
    assert len(chatty.chat_sessions()) == 2
    assert len(script.calls) == 4


def test_chat_with_an_agent_directly(shell, chatty, capsys):
    cell(shell, "chat --agent w", "Announce the launch")
    assert capsys.readouterr().out == "Announce the launch: done\n"


def test_chat_problems_are_usage_errors(shell, project):
    # `project` has no orchestratorModel
    assert "orchestratorModel" in refused(cell, shell, "chat", "hello")
    assert "the cell is empty" in refused(cell, shell, "chat", "   \n")
    assert "--new and --session cannot be used together" in refused(cell, shell, "chat --new --session last", "hi")


def test_a_failing_model_fails_the_cell_saying_why(shell, chatty, capsys):
    def broken(messages, info):
        raise RuntimeError("model exploded")

    orchestrate(chatty, broken)
    result = shell.run_cell("%%polpo chat\nhi")
    assert isinstance(result.error_in_exec, UsageError) and "model exploded" in str(result.error_in_exec)
    err = capsys.readouterr().err
    assert err.count("model exploded") == 1 and "Traceback" not in err
    assert shell.magics_manager.registry["PolpoMagics"].last_chat is None
