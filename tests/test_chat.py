"""`project.chat(...)`: the orchestrator's tool loop over the project API, agents answering directly, and
stored sessions — driven by scripted pydantic-ai models, offline and deterministic."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from traceback import format_exception

import pytest
from chat_script import StreamScript, call, last_tool_return, say
from llm_script import tool_returns, user_prompts
from support import EventLog

import polpo_nb as polpo
from polpo_nb.chat import TOOLS, ChatStream, NoOrchestratorModel
from polpo_nb.errors import NotFoundError, SpecError
from polpo_nb.spec import MissionStatus, TaskStatus

WAIT = 30
SEED_TOOLS = {  # the seed's orchestrator tool families, by our names
    "get_status", "list_tasks", "get_task", "create_task", "update_task", "delete_task", "list_missions",
    "get_mission", "create_mission", "update_mission", "delete_mission", "add_mission_task", "update_mission_task",
    "remove_mission_task", "list_agents", "add_agent", "remove_agent", "get_team", "rename_team", "execute_mission",
    "resume_mission", "abort_mission", "retry_task", "kill_task", "reassess_task", "approve_task", "reject_task",
    "list_resumable_missions", "list_pending_approvals", "get_memory", "update_memory", "append_memory",
    "list_files", "read_file", "get_logs", "get_config", "schedule_mission", "list_processes",
}
MISSION = {"name": "launch", "prompt": "Launch the product.",
           "tasks": [{"title": "draft", "description": "Draft the announcement", "assignTo": "writer"},
                     {"title": "review", "description": "Review the draft", "assignTo": "writer",
                      "dependsOn": ["draft"]}]}


@pytest.fixture
def chat_project(project_dir: Path) -> Iterator[polpo.Project]:
    project = polpo.Project(project_dir, config={"orchestratorModel": "scripted"})

    @project.agent("writer", role="writes announcements")
    def writer(task, ctx):
        ctx.output(f"writing {task.title}")
        return f"{task.title}: done"

    yield project
    project.close()


def orchestrate(project: polpo.Project, *steps) -> StreamScript:
    script = StreamScript(*steps)
    project.models.register("scripted", script.model)
    return script


def test_the_orchestrator_offers_the_seed_tools_with_json_schemas(chat_project):
    script = orchestrate(chat_project, say("hello"))
    chat_project.chat("hi")
    offered = set(script.calls[0]["tools"])
    assert len(offered) >= 38 and offered >= SEED_TOOLS
    for spec in TOOLS:
        assert spec.schema["type"] == "object" and spec.description
    create = next(t for t in TOOLS if t.name == "create_mission").schema
    assert {"name", "tasks"} <= set(create["properties"]) and "name" in create["required"]
    assert create["additionalProperties"] is False


def test_orchestrator_creates_and_executes_a_mission_that_really_runs(chat_project):
    events = EventLog(chat_project)
    script = orchestrate(
        chat_project,
        call("create_mission", **MISSION),
        call("execute_mission", mission="launch"),
        call("wait_for_mission", mission="launch", timeoutSeconds=WAIT),
        lambda messages, info: say(f"Mission launch is {last_tool_return(messages)['status']}."),
    )
    reply = chat_project.chat("Create a mission to launch the product and run it")

    assert reply.content == "Mission launch is completed." and reply.finish_reason == "stop"
    mission = chat_project.get_mission("launch")
    assert mission.status == MissionStatus.COMPLETED
    assert [t.status for t in mission.tasks] == [TaskStatus.DONE, TaskStatus.DONE]
    assert [t.result.content for t in mission.tasks] == ["draft: done", "review: done"]
    names = events.names()
    assert "mission:saved" in names and "mission:completed" in names
    assert [d["title"] for d in events.of("task:created")] == ["draft", "review"]
    assert len(events.of("task:completed")) == 2
    # the tool results the model read are the API's answers
    returns = tool_returns(script.calls[-1]["messages"])
    assert [r.tool_name for r in returns] == ["create_mission", "execute_mission", "wait_for_mission"]
    assert json.loads(returns[0].content)["id"] == mission.id
    assert [c.name for c in reply.tool_calls] == ["create_mission", "execute_mission", "wait_for_mission"]
    assert reply.usage.requests == 4 and reply.usage.tool_calls == 3


def test_the_conversation_is_stored_with_its_tool_calls_and_announced(chat_project):
    events = EventLog(chat_project)
    orchestrate(chat_project, call("get_status"), say("All quiet."))
    reply = chat_project.chat("How is the project?")

    [session] = chat_project.chat_sessions()
    assert session.id == reply.session_id and session.title == "How is the project?" and session.message_count == 4
    messages = chat_project.chat_messages(reply.session_id)
    assert [m.role for m in messages] == ["user", "assistant", "tool", "assistant"]
    assert messages[1].tool_calls[0].name == "get_status"
    assert messages[2].tool_call_id == messages[1].tool_calls[0].id and messages[2].name == "get_status"
    assert json.loads(messages[2].content)["agents"] == ["writer"]
    assert messages[3].content == "All quiet."
    assert [m.id for m in messages] == sorted(m.id for m in messages)
    assert events.of("session:created")[0]["sessionId"] == reply.session_id
    added = events.of("message:added")
    assert [d["role"] for d in added] == ["user", "assistant", "tool", "assistant"]
    assert added[1]["toolCalls"] == ["get_status"]


def test_a_failing_tool_answers_the_model_with_its_error(chat_project):
    script = orchestrate(
        chat_project,
        call("get_task", taskId="task_nope"),
        call("create_task", title="orphan"),  # no assignTo: invalid arguments
        call("create_task", title="x", assignTo="ghost"),  # unknown agent: the library refuses
        say("I could not find it."),
    )
    reply = chat_project.chat("Show me task task_nope")

    assert reply.content == "I could not find it." and reply.finish_reason == "stop"
    answers = [json.loads(r.content) for r in tool_returns(script.calls[-1]["messages"])]
    assert answers[0] == {"ok": False, "error": "Task not found: task_nope", "code": "NOT_FOUND"}
    assert answers[1]["code"] == "BAD_REQUEST" and "assignTo" in answers[1]["error"]
    assert answers[2]["code"] == "BAD_REQUEST" and "ghost" in answers[2]["error"]
    tools = [m for m in chat_project.chat_messages(reply.session_id) if m.role == "tool"]
    assert [m.is_error for m in tools] == [True, True, True]
    assert chat_project.list_tasks() == []


def test_the_tool_loop_stops_at_max_turns_with_finish_reason_length(chat_project):
    script = orchestrate(chat_project, call("get_status"))  # never stops calling tools
    reply = chat_project.chat("loop forever", max_turns=3)

    assert reply.finish_reason == "length" and "3 model turns" in reply.content
    assert len(script.calls) == 3
    roles = [m.role for m in chat_project.chat_messages(reply.session_id)]
    assert roles == ["user"] + ["assistant", "tool"] * 3 + ["assistant"]


def test_max_turns_defaults_to_the_project_setting(project_dir):
    with polpo.Project(project_dir, config={"orchestratorModel": "scripted", "orchestratorMaxTurns": 2}) as project:
        script = orchestrate(project, call("list_missions"))
        reply = project.chat("go")
    assert reply.finish_reason == "length" and len(script.calls) == 2


def test_no_orchestrator_model_is_a_clear_error_and_stores_nothing(project):
    with pytest.raises(NoOrchestratorModel) as info:
        project.chat("hello")
    assert "orchestratorModel" in info.value.message and info.value.code == "BAD_REQUEST"
    assert project.chat_sessions() == []


def test_unknown_agent_and_unknown_session_are_not_found(chat_project):
    orchestrate(chat_project, say("hi"))
    with pytest.raises(NotFoundError, match="Agent not found: nobody.*writer"):
        chat_project.chat("hello", agent="nobody")
    with pytest.raises(NotFoundError, match="Chat session not found"):
        chat_project.chat("hello", session_id="sess_missing")
    with pytest.raises(SpecError, match="user"):
        chat_project.chat([{"role": "assistant", "content": "I speak first"}])
    assert chat_project.chat_sessions() == []


def test_a_session_continues_with_its_history_and_new_forces_a_new_one(chat_project):
    script = orchestrate(chat_project, call("get_status"), say("Quiet."), say("Still quiet."), say("Fresh."))
    first = chat_project.chat("How is it?")
    # an OpenAI client resends the whole conversation: only the new user message is added
    again = chat_project.chat([{"role": "user", "content": "How is it?"}, {"role": "assistant", "content": "Quiet."},
                               {"role": "user", "content": "And now?"}], session_id=first.session_id)
    assert again.session_id == first.session_id and again.content == "Still quiet."
    seen = script.calls[2]["messages"]
    assert user_prompts(seen) == ["How is it?", "And now?"]
    assert [r.tool_name for r in tool_returns(seen)] == ["get_status"]  # the stored tool call is in the history
    roles = [m.role for m in chat_project.chat_messages(first.session_id)]
    assert roles == ["user", "assistant", "tool", "assistant", "user", "assistant"]

    fresh = chat_project.chat("Hello", session_id="new")
    assert fresh.session_id != first.session_id and user_prompts(script.calls[3]["messages"]) == ["Hello"]
    assert chat_project.chat("More", session_id="last").session_id == fresh.session_id


def test_streaming_yields_text_tool_calls_and_a_final_reply(chat_project):
    script = orchestrate(chat_project, call("list_agents"), say("You have one agent: writer."))
    stream = chat_project.chat("Who is on the team?", stream=True)
    assert isinstance(stream, ChatStream) and stream.session_id.startswith("sess_")
    chunks = list(stream)

    kinds = [c.kind for c in chunks]
    assert kinds[0] == "tool_call" and chunks[0].tool_call.name == "list_agents"
    assert kinds[1] == "tool_result" and json.loads(chunks[1].text)[0]["name"] == "writer"
    text = "".join(c.text for c in chunks if c.kind == "text")
    assert text == "You have one agent: writer." and kinds.count("text") > 1  # streamed word by word
    assert kinds[-1] == "done" and chunks[-1].reply.content == text
    assert script.streamed == 2  # the model was called in streaming mode
    assert chat_project.chat_messages(stream.session_id)[-1].content == text


async def test_async_streaming_from_another_event_loop(chat_project):
    orchestrate(chat_project, say("Hello from the engine thread."))
    stream = await chat_project.aio.chat("hi", stream=True)
    texts = [c.text async for c in stream if c.kind == "text"]
    assert "".join(texts) == "Hello from the engine thread."
    assert stream.reply is not None and stream.reply.session_id == stream.session_id


def test_a_provider_failure_ends_the_stream_with_an_error_chunk(chat_project):
    def broken(messages, info):
        raise RuntimeError("model exploded")

    orchestrate(chat_project, broken)
    chunks = list(chat_project.chat("hi", stream=True))
    assert chunks[-1].kind == "error" and "model exploded" in chunks[-1].error
    with pytest.raises(polpo.PolpoError, match="model exploded"):
        chat_project.chat("hi")


def test_a_function_agent_answers_directly(chat_project):
    reply = chat_project.chat("Announce the launch", agent="writer")
    assert reply.agent == "writer" and reply.content == "Announce the launch: done"
    stream = chat_project.chat("Again", agent="writer", session_id=reply.session_id, stream=True)
    chunks = list(stream)
    assert [c.kind for c in chunks] == ["output", "text", "done"] and chunks[0].text.startswith("writing")
    [session] = chat_project.chat_sessions()
    assert session.agent == "writer" and session.message_count == 4


def test_an_llm_agent_answers_directly_with_its_own_tools(chat_project):
    script = StreamScript(call("write_file", path="notes.md", content="# Notes\n"), say("Wrote notes.md."))
    chat_project.models.register("agent-model", script.model)
    chat_project.add_agent({"name": "scribe", "role": "note taker", "model": "agent-model"})
    reply = chat_project.chat("Take notes", agent="scribe")

    assert reply.content == "Wrote notes.md." and reply.model == "agent-model"
    assert (chat_project.root / "notes.md").read_text() == "# Notes\n"
    assert "You are scribe, note taker." in script.calls[0]["instructions"]
    assert "write_file" in script.calls[0]["tools"] and "create_mission" not in script.calls[0]["tools"]


def test_sessions_are_renamed_and_deleted(chat_project):
    events = EventLog(chat_project)
    orchestrate(chat_project, say("ok"))
    reply = chat_project.chat("first")
    renamed = chat_project.rename_chat_session(reply.session_id, "Launch planning")
    assert renamed.title == "Launch planning" and chat_project.chat_sessions()[0].title == "Launch planning"
    with pytest.raises(SpecError):
        chat_project.rename_chat_session(reply.session_id, "")
    chat_project.delete_chat_session(reply.session_id)
    assert chat_project.chat_sessions() == []
    with pytest.raises(NotFoundError):
        chat_project.chat_messages(reply.session_id)
    assert events.names("session:") == ["session:created", "session:renamed", "session:deleted"]


def test_sessions_survive_reopening_the_project(project_dir):
    with polpo.Project(project_dir, config={"orchestratorModel": "scripted"}) as project:
        orchestrate(project, say("remembered"))
        session_id = project.chat("remember me").session_id
    with polpo.Project(project_dir) as project:
        assert [m.content for m in project.chat_messages(session_id)] == ["remember me", "remembered"]


def test_closing_the_project_cancels_a_running_turn(project_dir):
    """Closed while the model is answering (a streamed turn asks the model for a stream): the reader sees
    the turn end as cancelled. The close waits until the model is called, so the turn surely runs."""
    release = asyncio.Event()
    called = threading.Event()

    project = polpo.Project(project_dir, config={"orchestratorModel": "scripted"})

    async def slow(messages, info):
        called.set()
        await release.wait()
        yield "never"

    from pydantic_ai.models.function import FunctionModel

    project.models.register("scripted", FunctionModel(stream_function=slow))
    stream = project.chat("wait", stream=True)
    assert called.wait(30)
    project.close()
    chunks = list(stream)
    assert chunks[-1].kind == "error" and chunks[-1].code == "CANCELLED", chunks[-1].error


@pytest.fixture
def answers_cannot_be_stored(monkeypatch):
    """A bug of ours: storing a turn's answer raises (not a PolpoError), its text naming a path."""
    from polpo_nb.chat.sessions import Sessions

    add = Sessions.add

    async def add_then_break(self, session_id, messages):
        if any(m.role == "assistant" for m in messages):
            raise RuntimeError("a bug, near /srv/secret/path")
        return await add(self, session_id, messages)
    monkeypatch.setattr(Sessions, "add", add_then_break)


def test_a_turn_that_fails_on_a_bug_ends_its_stream_as_internal_and_the_log_has_the_traceback(
        project_dir, answers_cannot_be_stored, caplog):
    """Not the model's failure, nor one of polpo's told errors: a bug. Its reader sees the turn end as
    INTERNAL without the exception's text (which may hold a server's paths or data), and the log has the
    whole traceback. (The chunk said `RuntimeError: <its text>` before.)"""
    with polpo.Project(project_dir) as project:
        project.agent("echo")(lambda task, ctx: "never stored")  # (a function agent, talked to directly)
        with caplog.at_level(logging.ERROR, logger="polpo_nb"):
            chunks = list(project.chat("hi", agent="echo", stream=True))
    assert (chunks[-1].kind, chunks[-1].code) == ("error", "INTERNAL")
    assert "secret" not in (chunks[-1].error or "") and "internal error" in (chunks[-1].error or "")
    logged = [r for r in caplog.records if r.exc_info and "chat turn" in r.getMessage()]
    assert len(logged) == 1 and "a bug, near /srv/secret/path" in str(logged[0].exc_info[1])


def test_a_turn_of_the_orchestrator_that_cannot_store_its_answer_is_not_the_models_failure(
        project_dir, answers_cannot_be_stored, caplog):
    """The model answered; storing its answer failed on a bug of ours. The turn said `model 'scripted'
    failed: RuntimeError: <the bug's text>` (UPSTREAM, a 502 over HTTP): the provider blamed, and the
    exception's text shown to the client. It ends as INTERNAL, the traceback in the log."""
    with polpo.Project(project_dir, config={"orchestratorModel": "scripted"}) as project:
        orchestrate(project, say("never stored"))
        with caplog.at_level(logging.ERROR, logger="polpo_nb"):
            chunks = list(project.chat("hi", stream=True))
    assert (chunks[-1].kind, chunks[-1].code) == ("error", "INTERNAL"), chunks[-1]
    assert "secret" not in (chunks[-1].error or "") and "scripted" not in (chunks[-1].error or "")
    logged = [r for r in caplog.records if r.exc_info and "chat turn" in r.getMessage()]
    assert len(logged) == 1 and "a bug, near /srv/secret/path" in "".join(format_exception(logged[0].exc_info[1]))


def test_a_tool_that_fails_on_a_bug_tells_the_model_internal_without_its_text_and_logs_the_traceback(
        chat_project, monkeypatch, caplog):
    """A tool call that raises a polpo error tells the model its public message, to act on. One that
    raises anything else is a bug: the conversation goes on, the model (and the client, which sees each
    tool's result) read INTERNAL without the exception's text, and the traceback is in the log."""
    async def broken() -> list:
        raise RuntimeError("a bug, near /srv/secret/path")
    monkeypatch.setattr(chat_project.aio, "resumable_missions", broken)
    script = orchestrate(chat_project, call("list_resumable_missions"), say("That failed on our side."))
    with caplog.at_level(logging.ERROR, logger="polpo_nb"):
        chunks = list(chat_project.chat("What can I resume?", stream=True))
    answer = last_tool_return(script.calls[-1]["messages"])
    assert (answer["ok"], answer["code"]) == (False, "INTERNAL") and "secret" not in json.dumps(answer)
    assert "list_resumable_missions" in answer["error"] and "log" in answer["error"]
    shown = next(c for c in chunks if c.kind == "tool_result")
    assert json.loads(shown.text) == answer
    assert chunks[-1].kind == "done" and chunks[-1].reply.content == "That failed on our side."
    logged = [r for r in caplog.records if r.exc_info]
    assert len(logged) == 1 and "a bug, near /srv/secret/path" in str(logged[0].exc_info[1])
