"""LLM agents through the public Project API, on scripted pydantic-ai FunctionModels: the real tool loop,
tools, events, transcripts, fix phase and escalation, offline and deterministic."""

from __future__ import annotations

import pytest
from llm_script import Script, call, say, tool_returns, verdict

import polpo_nb as polpo
from polpo_nb.agents.models import ModelRegistry, ModelUnavailableError, split_model_id
from polpo_nb.spec import MissionStatus, TaskStatus

WAIT = 30


def team_mission(tasks: list[dict], agents: list[dict], **extra) -> polpo.Mission:
    return polpo.Mission.model_validate({"name": extra.pop("name", "m"), "tasks": tasks, "team": {"agents": agents},
                                         **extra})


def test_agent_writes_a_file_through_write_file_and_the_assessment_finds_it(project, events):
    script = Script(call("write_file", path="docs/report.md", content="# Report\nAll good."), say("Wrote docs/report.md"))
    project.aio.models.register("scripted", script.model)
    mission = team_mission(
        [{"title": "report", "description": "Write the report", "assignTo": "writer",
          "expectations": [{"type": "file_exists", "paths": ["docs/report.md"]}],
          "expectedOutcomes": [{"type": "file", "path": "docs/report.md"}]}],
        [{"name": "writer", "role": "technical writer", "model": "scripted"}])
    record = project.execute(mission).wait(WAIT)

    task = record.tasks[0]
    assert record.status == MissionStatus.COMPLETED and task.status == TaskStatus.DONE
    assert (project.root / "docs" / "report.md").read_text() == "# Report\nAll good."
    assert task.result.files_created == ["docs/report.md"]
    assert task.result.content == "Wrote docs/report.md"
    assert task.result.model == "scripted" and task.result.usage.input_tokens > 0
    assert task.result.data["toolCalls"][0]["tool"] == "write_file" and task.result.data["toolCalls"][0]["ok"]
    assert task.assessment.passed and all(c.passed for c in task.assessment.checks)
    assert [(d["tool"], d["args"]["path"]) for d in events.of("task:tool_use")] == [("write_file", "docs/report.md")]
    assert [d["text"] for d in events.of("task:output")] == ["Wrote docs/report.md"]
    # the model was told who it is and what it is assessed on
    assert "You are writer, technical writer." in script.calls[0]["instructions"]
    assert "docs/report.md" in script.last_prompt(0) and "Write the report" in script.last_prompt(0)


def test_transcript_of_an_attempt_is_in_the_logs_store(project):
    script = Script(call("list_files", path="."), say("nothing to do"))
    project.aio.models.register("scripted", script.model)
    mission = team_mission([{"title": "look", "assignTo": "a"}], [{"name": "a", "model": "scripted",
                                                                   "systemPrompt": "Be brief."}])
    task = project.execute(mission).wait(WAIT).tasks[0]
    lines = [e.message for e in project.log(f"{task.id}-1")]
    assert lines[0].startswith("[session] agent a on model scripted, attempt 1")
    assert any(line.startswith("[instructions]") and "Be brief." in line for line in lines)
    assert any(line.startswith("[user]") and "## Your task: look" in line for line in lines)
    assert any(line.startswith("[tool] list_files") for line in lines)
    assert "[assistant] nothing to do" in lines
    assert lines[-1].startswith("[usage] 2 requests")


def test_failed_judge_score_starts_the_fix_phase_with_the_feedback_in_the_prompt(project_dir):
    project = polpo.Project(project_dir, config={"judgeModel": "judge"})
    try:
        agent = Script(call("write_file", path="essay.md", content="draft"), say("first draft"),
                       call("edit_file", path="essay.md", old_text="draft", new_text="draft\n\nIn conclusion, yes."),
                       say("added a conclusion"))
        judge = Script(verdict(2, "The essay has no conclusion."), verdict(5, "Complete."))
        project.aio.models.register("writer-model", agent.model)
        project.aio.models.register("judge", judge.model)
        mission = team_mission([{"title": "essay", "assignTo": "w", "expectations": ["The essay has a conclusion"]}],
                               [{"name": "w", "model": "writer-model"}])
        task = project.execute(mission).wait(WAIT).tasks[0]

        assert task.status == TaskStatus.DONE and task.retries == 1
        assert [a.phase for a in project.attempts(task.id)] == ["execution", "fix"]
        fix_prompt = agent.last_prompt(2)
        assert "The essay has no conclusion." in fix_prompt and "Fix required (attempt 2)" in fix_prompt
        # the agent continued its own conversation: its first tool call is in the history it was sent
        assert [r.tool_name for r in tool_returns(agent.calls[2]["messages"])] == ["write_file"]
        assert task.assessment.criteria[0].score == 5 and task.assessment.criteria[0].kind == "criterion"
        assert task.result.files_created == ["essay.md"]
        assert (project.root / "essay.md").read_text().endswith("In conclusion, yes.")
        assert [e.data["score"] for e in project.replay(pattern="task:fix")] == [2]
        # the judge saw the file's content, not just the agent's claim
        assert "draft" in judge.last_prompt(0) and "essay.md" in judge.last_prompt(0)
    finally:
        project.close()


def test_escalation_switches_the_model_actually_called_then_the_fallback_agent(project):
    small = Script(say("I think it is done"), name="small")  # never writes the file: fails the outcome check
    big = Script(say("Still just talking"), name="big")
    rescue = Script(call("write_file", path="out.txt", content="42"), say("wrote out.txt"), name="rescue")
    for name, script in (("small", small), ("big", big), ("rescue", rescue)):
        project.aio.models.register(name, script.model)
    mission = team_mission(
        [{"title": "answer", "assignTo": "junior", "maxRetries": 3,
          "expectedOutcomes": [{"type": "file", "path": "out.txt"}],
          "retryPolicy": {"escalateAfter": 1, "escalateModel": "big", "fallbackAgent": "senior"}}],
        [{"name": "junior", "model": "small"}, {"name": "senior", "model": "rescue"}])
    task = project.execute(mission).wait(WAIT).tasks[0]

    assert task.status == TaskStatus.DONE
    attempts = project.attempts(task.id)
    assert [(a.agent, a.model) for a in attempts] == [("junior", "small"), ("junior", "big"), ("senior", "rescue")]
    assert len(small.calls) == 1 and len(big.calls) == 1 and len(rescue.calls) == 2
    assert task.result.model == "rescue" and task.result.agent == "senior"
    # the fallback agent starts afresh with the task and the feedback (not the junior's conversation)
    assert "out.txt does not exist" in rescue.last_prompt(0) and "## Your task: answer" in rescue.last_prompt(0)


def test_sandbox_escape_attempts_through_tools_are_refused(project, events, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    script = Script(call("write_file", path="../escape.txt", content="x"), call("read_file", path=str(outside)),
                    call("write_file", path=".polpo/state.db", content="boom"), call("list_files", path="/"),
                    say("gave up"))
    project.aio.models.register("scripted", script.model)
    task = project.execute(team_mission([{"title": "t", "assignTo": "a"}], [{"name": "a", "model": "scripted"}])
                           ).wait(WAIT).tasks[0]

    answers = [r.content for r in tool_returns(script.calls[-1]["messages"])]
    assert len(answers) == 4 and all(a.startswith("refused:") for a in answers), answers
    assert "secret" not in " ".join(answers)
    assert not (tmp_path / "escape.txt").exists() and not (project.root.parent / "escape.txt").exists()
    assert project.list_tasks()[0].status == TaskStatus.DONE  # the store was not overwritten
    assert task.result.files_created == []
    assert [d["result"].startswith("refused:") for d in events.of("task:tool_use")] == [True] * 4


def test_allowed_paths_fence_the_file_tools(project):
    script = Script(call("write_file", path="src/app.py", content="x"), call("write_file", path="docs/a.md", content="y"),
                    say("done"))
    project.aio.models.register("scripted", script.model)
    task = project.execute(team_mission([{"title": "t", "assignTo": "a"}],
                                        [{"name": "a", "model": "scripted", "allowedPaths": ["docs"]}])).wait(WAIT).tasks[0]
    first, second = (r.content for r in tool_returns(script.calls[-1]["messages"]))
    assert first.startswith("refused:") and "docs" in first
    assert second.startswith("wrote docs/a.md")
    assert task.result.files_created == ["docs/a.md"] and not (project.root / "src" / "app.py").exists()


def test_run_shell_is_opt_in_and_sees_a_filtered_environment(project, monkeypatch):
    monkeypatch.setenv("POLPO_TEST_API_KEY", "sk-do-not-leak")
    plain = Script(say("no shell for me"))
    shell = Script(call("run_shell", command="echo key=$POLPO_TEST_API_KEY; pwd"), say("ran it"))
    project.aio.models.register("plain", plain.model)
    project.aio.models.register("shell", shell.model)
    mission = team_mission([{"title": "a", "assignTo": "p"}, {"title": "b", "assignTo": "s"}],
                           [{"name": "p", "model": "plain"},
                            {"name": "s", "model": "shell", "allowedTools": ["run_shell", "read_file"]}])
    record = project.execute(mission).wait(WAIT)

    assert record.status == MissionStatus.COMPLETED
    assert "run_shell" not in plain.calls[0]["tools"] and "write_file" in plain.calls[0]["tools"]
    assert sorted(shell.calls[0]["tools"]) == ["read_file", "run_shell"]
    (answer,) = (r.content for r in tool_returns(shell.calls[-1]["messages"]))
    assert answer.startswith("exit code 0") and "key=\n" in answer and str(project.root) in answer
    assert "sk-do-not-leak" not in answer


def test_mission_prompt_data_memory_and_upstream_results_reach_the_prompt(project):
    first = Script(call("write_file", path="facts.md", content="water boils at 100C"), say("Facts: water boils at 100C"))
    second = Script(say("summary"))
    project.aio.models.register("first", first.model)
    project.aio.models.register("second", second.model)
    project.put_memory("House style: short sentences.")
    mission = team_mission([{"title": "research", "assignTo": "r"},
                            {"title": "summarise", "assignTo": "s", "dependsOn": ["research"]}],
                           [{"name": "r", "model": "first"}, {"name": "s", "model": "second"}],
                           prompt="Explain boiling.", data={"audience": "kids"})
    assert project.execute(mission).wait(WAIT).status == MissionStatus.COMPLETED
    prompt = second.last_prompt(0)
    for needle in ("Explain boiling.", '"audience": "kids"', "House style: short sentences.", "### research",
                   "Facts: water boils at 100C", "Files: facts.md", "## Your task: summarise"):
        assert needle in prompt, needle


def test_max_turns_ends_an_endless_tool_loop_as_a_failed_attempt(project):
    script = Script(call("list_files", path="."))  # never answers
    project.aio.models.register("loop", script.model)
    task = project.execute(team_mission([{"title": "t", "assignTo": "a", "maxRetries": 0}],
                                        [{"name": "a", "model": "loop", "maxTurns": 3}])).wait(WAIT).tasks[0]
    assert task.status == TaskStatus.FAILED
    assert "maxTurns" in task.result.error and len(script.calls) == 3


def test_test_model_runs_offline_through_review(project_dir):
    project = polpo.Project(project_dir, config={"defaultModel": "test"})
    try:
        project.add_agent({"name": "dry"})
        task = project.execute(team_mission([{"title": "t", "assignTo": "dry", "expectations": ["anything"]}], [])
                               ).wait(WAIT).tasks[0]
        assert task.status == TaskStatus.DONE and task.result.model == "test"
        assert task.assessment.criteria[0].score == 5 and "placeholder" in task.assessment.criteria[0].feedback
    finally:
        project.close()


def test_test_model_runs_an_agent_whatever_tools_it_is_allowed(project_dir):
    """The offline `test` model (dry runs, test keys) called `list_files` whatever the agent's tools: an
    agent allowed other tools failed every attempt ("TestModel was configured to call unknown tool")."""
    project = polpo.Project(project_dir, config={"defaultModel": "test"})
    try:
        project.add_agent({"name": "reader", "allowedTools": ["read_file"]})
        project.add_agent({"name": "toolless", "allowedTools": []})
        record = project.execute(team_mission([{"title": "r", "assignTo": "reader"},
                                               {"title": "n", "assignTo": "toolless"}], [])).wait(WAIT)
        assert [(t.status, t.result.error) for t in record.tasks] == [(TaskStatus.DONE, None)] * 2
    finally:
        project.close()


def test_a_missing_key_fails_at_execute_naming_the_variable_before_anything_is_written(project_dir, monkeypatch):
    monkeypatch.delenv("MY_LOCAL_KEY", raising=False)
    project = polpo.Project(project_dir, config={"providers": {"local": {"baseUrl": "http://127.0.0.1:9/v1",
                                                                           "apiKeyEnv": "MY_LOCAL_KEY"}}})
    try:
        mission = team_mission([{"title": "t", "assignTo": "a"}], [{"name": "a", "model": "local:qwen"}])
        with pytest.raises(polpo.PolpoError) as info:
            project.execute(mission)
        assert "MY_LOCAL_KEY" in info.value.message and info.value.code == "BAD_REQUEST"
        assert project.get_mission("m").status == MissionStatus.DRAFT
        assert project.attempts(project.get_mission("m").tasks[0].id) == []
    finally:
        project.close()


def test_unknown_tool_in_allowed_tools_fails_at_execute(project):
    project.aio.models.register("scripted", Script(say("x")).model)
    with pytest.raises(polpo.PolpoError) as info:
        project.execute(team_mission([{"title": "t", "assignTo": "a"}],
                                     [{"name": "a", "model": "scripted", "allowedTools": ["read_file", "teleport"]}]))
    assert "'teleport'" in info.value.message and "run_shell" in info.value.message


@pytest.mark.parametrize(("model", "expected"), [
    ("anthropic:claude-sonnet-4-5", ("anthropic", "claude-sonnet-4-5")),
    ("anthropic/claude-sonnet-4-5", ("anthropic", "claude-sonnet-4-5")),
    ("openrouter/anthropic/claude-sonnet-4-5", ("openrouter", "anthropic/claude-sonnet-4-5")),
    ("ollama:qwen2.5:7b", ("ollama", "qwen2.5:7b")),
    ("ollama/qwen2.5:7b", ("ollama", "qwen2.5:7b")),
    ("gpt-5", (None, "gpt-5")),
])
def test_model_strings_split_at_the_first_separator(model, expected):
    assert split_model_id(model) == expected


def test_model_checks_name_the_missing_variable_and_unknown_providers(monkeypatch):
    for var in ("ANTHROPIC_API_KEY", "GOOGLE_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    registry = ModelRegistry()
    with pytest.raises(ModelUnavailableError, match="ANTHROPIC_API_KEY"):
        registry.check("anthropic/claude-sonnet-4-5")
    with pytest.raises(ModelUnavailableError, match="GOOGLE_API_KEY or GEMINI_API_KEY"):
        registry.check("google:gemini-2.5-pro")
    with pytest.raises(ModelUnavailableError, match="unknown provider 'nowhere'"):
        registry.check("nowhere:model")
    with pytest.raises(ModelUnavailableError, match="names no provider"):
        registry.check("gpt-5")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    registry.check("anthropic:claude-sonnet-4-5")
    model = registry.resolve("anthropic:claude-sonnet-4-5")
    assert type(model).__name__ == "AnthropicModel" and model.model_name == "claude-sonnet-4-5"
    assert registry.resolve("anthropic:claude-sonnet-4-5") is model  # one client per model string
    registry.check("ollama:qwen2.5")  # local: no key needed


def test_allowed_path_globs_mean_the_same_to_every_file_tool(project):
    """`*` stays within one folder and `**` spans any number of them (none included), for reading,
    listing and searching alike: a file one tool refuses, no other tool reaches."""
    for rel in ("top.md", "docs/deep/b.md", "src/x.py", "src/pkg/y.py", "src/z.txt"):
        (project.root / rel).parent.mkdir(parents=True, exist_ok=True)
        (project.root / rel).write_text("needle\n")
    script = Script(call("read_file", path="docs/deep/b.md"), call("read_file", path="top.md"),
                    call("read_file", path="src/x.py"), call("read_file", path="src/pkg/y.py"),
                    call("read_file", path="src/z.txt"), call("list_files", path=".", recursive=True),
                    call("grep", pattern="needle"), say("done"))
    project.aio.models.register("scripted", script.model)
    project.execute(team_mission([{"title": "t", "assignTo": "a"}],
                                 [{"name": "a", "model": "scripted", "allowedPaths": ["*.md", "src/**/*.py"]}])
                    ).wait(WAIT)
    answers = [r.content for r in tool_returns(script.calls[-1]["messages"])]
    deep, top, x, y, txt, listing, found = answers
    assert deep.startswith("refused:") and txt.startswith("refused:")
    assert all(a.startswith("needle") for a in (top, x, y)), (top, x, y)
    listed_files = sorted(line for line in listing.splitlines() if not line.endswith("/"))
    assert listed_files == ["src/pkg/y.py", "src/x.py", "top.md"]
    assert sorted(line.split(":")[0] for line in found.splitlines()) == ["src/pkg/y.py", "src/x.py", "top.md"]
