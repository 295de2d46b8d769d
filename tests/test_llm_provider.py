"""The provider path up to HTTP: real pydantic-ai/OpenAI client requests to an OpenAI-compatible fake server
on 127.0.0.1, answering with a tool call and then a final message."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import polpo_nb as polpo
from polpo_nb.spec import MissionStatus, TaskStatus
from polpo_nb.testing import LoopbackOpenAI, last_message, text, tool_call, tool_names

WAIT = 30
SECRET = "sk-loopback-secret-123"


def writer_then_judge(body: dict) -> dict:
    """Agent turn 1: write a file; turn 2: summarise. Judge (offered `final_result`): score 4."""
    if "final_result" in tool_names(body):
        return tool_call("final_result", {"score": 4, "feedback": "clear and complete"})
    if last_message(body)["role"] == "tool":
        return text("Wrote notes/plan.md with the plan.")
    return tool_call("write_file", {"path": "notes/plan.md", "content": "1. plan\n2. execute\n"})


@pytest.fixture
def server() -> Iterator[LoopbackOpenAI]:
    with LoopbackOpenAI(writer_then_judge) as srv:
        yield srv


def _mission(model: str) -> polpo.Mission:
    return polpo.Mission.model_validate({
        "name": "plan", "prompt": "Plan the launch.",
        "tasks": [{"title": "write plan", "description": "Write the plan to notes/plan.md", "assignTo": "planner",
                   "expectations": ["The plan has steps"], "expectedOutcomes": [{"type": "file", "path": "notes/plan.md"}]}],
        "team": {"agents": [{"name": "planner", "role": "launch planner", "model": model,
                             "systemPrompt": "Always number the steps."}]},
    })


def test_custom_base_url_endpoint_receives_the_real_request_and_drives_the_tool_loop(project_dir, server, monkeypatch):
    monkeypatch.setenv("LOOPBACK_API_KEY", SECRET)
    config = {"providers": {"local": {"baseUrl": server.base_url, "apiKeyEnv": "LOOPBACK_API_KEY"}},
              "judgeModel": "local:judge-model"}
    with polpo.Project(project_dir, config=config) as project:
        record = project.execute(_mission("local:qwen2.5")).wait(WAIT)
        task = record.tasks[0]
        logs = [e.message for s in project.log_sessions() for e in project.log(s.session_id)]
        events = project.replay()

    assert record.status == MissionStatus.COMPLETED and task.status == TaskStatus.DONE
    first = server.requests[0]
    assert first["model"] == "qwen2.5"
    assert {"read_file", "write_file", "edit_file", "list_files", "grep"} <= set(tool_names(first))
    assert "run_shell" not in tool_names(first)
    system = first["messages"][0]
    assert system["role"] == "system" and "You are planner, launch planner." in system["content"]
    assert "Always number the steps." in system["content"]
    assert "Plan the launch." in first["messages"][1]["content"]
    # turn 2 carries the tool's result; the judge's request asks for the structured verdict
    assert server.requests[1]["messages"][-1]["role"] == "tool"
    assert "wrote notes/plan.md" in server.requests[1]["messages"][-1]["content"]
    judge = server.requests[2]
    assert judge["model"] == "judge-model" and tool_names(judge) == ["final_result"]
    assert "1. plan" in judge["messages"][-1]["content"]
    assert all(h["authorization"] == f"Bearer {SECRET}" for h in server.headers)

    assert (project_dir / "notes" / "plan.md").read_text() == "1. plan\n2. execute\n"
    assert task.result.content == "Wrote notes/plan.md with the plan." and task.result.files_created == ["notes/plan.md"]
    assert task.result.usage.input_tokens > 0 and task.result.usage.output_tokens > 0
    assert task.assessment.criteria[0].score == 4 and task.assessment.criteria[0].feedback == "clear and complete"
    # the key went to the server and nowhere else
    assert all(SECRET not in line for line in logs)
    assert all(SECRET not in str(e.data) for e in events)


def test_openai_models_go_to_a_configured_base_url_with_the_openai_key(project_dir, server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    config = {"providers": {"openai": {"baseUrl": server.base_url}}, "judgeModel": "openai:gpt-4o-mini"}
    with polpo.Project(project_dir, config=config) as project:
        task = project.execute(_mission("openai:gpt-4o-mini")).wait(WAIT).tasks[0]
    assert task.status == TaskStatus.DONE
    assert [r["model"] for r in server.requests] == ["gpt-4o-mini"] * 3
    assert server.headers[0]["authorization"] == f"Bearer {SECRET}"


def test_a_provider_error_fails_the_attempt_with_the_model_named(project_dir, monkeypatch):
    monkeypatch.setenv("LOOPBACK_API_KEY", SECRET)

    def broken(body: dict) -> dict:
        raise RuntimeError("model crashed")

    with LoopbackOpenAI(broken) as srv, polpo.Project(project_dir, config={
            "providers": {"local": {"baseUrl": srv.base_url, "apiKeyEnv": "LOOPBACK_API_KEY"}}}) as project:
        mission = _mission("local:qwen2.5")
        mission.tasks[0].max_retries = 0
        task = project.execute(mission).wait(WAIT).tasks[0]
        logs = [e.message for e in project.log(f"{task.id}-1")]

    assert task.status == TaskStatus.FAILED
    assert "model 'local:qwen2.5' failed" in task.result.error and "500" in task.result.error
    assert any(line.startswith("[error]") for line in logs)
    assert SECRET not in task.result.error


@pytest.mark.parametrize("choices,said", [
    ([], "LLMAgentError: model 'local:odd' answered no usable chat completion (IndexError: "),
    ([{"index": 0, "finish_reason": "stop"}], "LLMAgentError: model 'local:odd' failed: UnexpectedModelBehavior: "),
])
def test_an_answer_that_is_no_chat_completion_fails_the_attempt_naming_the_model(project_dir, choices, said):
    """A 200 with no choice (as a content filter answers) or a choice without a message: pydantic-ai's
    IndexError or ValidationError traceback was the attempt's error. It is the model's failure, in one line."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Odd(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("content-length") or 0))
            body = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                               "choices": choices}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Odd)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with polpo.Project(project_dir, config={"providers": {"local": {
                "baseUrl": f"http://127.0.0.1:{server.server_port}/v1"}}}) as project:
            mission = _mission("local:odd")
            mission.tasks[0].max_retries = 0
            task = project.execute(mission).wait(WAIT).tasks[0]
    finally:
        server.shutdown()
    assert task.status == TaskStatus.FAILED
    assert said in task.result.error  # the model's failure, as a provider's 500 is
