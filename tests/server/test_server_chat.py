"""`POST polpo/v1/chat/completions` and the chat sessions routes on a real Jupyter server, with the official
`openai` SDK as the client (`api_key` = the server's token) and a scripted orchestrator model."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import pytest
from chat_script import StreamScript, call, last_tool_return, say
from httpx_sse import connect_sse
from server_helpers import Api, free_port, start_serve, stop_serve, until
from traitlets.config import Config

from polpo_nb import AsyncProject
from polpo_nb.testing import LoopbackOpenAI, text, tool_call
from polpo_server.limits import MAX_BODY_BYTES
from polpo_server.routes import ROUTES

MISSION = {"name": "launch", "tasks": [{"title": "draft", "assignTo": "writer"},
                                       {"title": "review", "assignTo": "writer", "dependsOn": ["draft"]}]}


@pytest.fixture
def jp_server_config() -> Config:
    return Config({
        "ServerApp": {"jpserver_extensions": {"polpo_server": True}},
        "PolpoServerApp": {"sse_keepalive": 0.2, "orchestrator_model": "scripted"},
    })


@pytest.fixture
def writer(project: AsyncProject) -> None:
    @project.agent("writer", role="writes")
    def write(task, ctx):
        return f"{task.title}: done"


@pytest.fixture
def client(http_server, jp_http_port, jp_base_url, jp_serverapp) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{jp_http_port}{jp_base_url}polpo/v1",
                              api_key=jp_serverapp.identity_provider.token, max_retries=0, timeout=30)


def script(project: AsyncProject, *steps) -> StreamScript:
    s = StreamScript(*steps)
    project.models.register("scripted", s.model)
    return s


def create_then_execute() -> tuple:
    return (call("create_mission", **MISSION), call("execute_mission", mission="launch"),
            call("wait_for_mission", mission="launch", timeoutSeconds=30),
            lambda messages, info: say(f"Mission launch is {last_tool_return(messages)['status']}."))


async def test_the_orchestrator_creates_and_runs_a_mission_through_the_openai_sdk(client, project, writer, fapi):
    script(project, *create_then_execute())
    after = project.bus.cursor
    raw = await client.chat.completions.with_raw_response.create(
        model="polpo", messages=[{"role": "user", "content": "Create the launch mission and run it"}])
    completion = raw.parse()

    assert completion.object == "chat.completion" and completion.id.startswith("chatcmpl-")
    choice = completion.choices[0]
    assert choice.message.role == "assistant" and choice.message.content == "Mission launch is completed."
    assert choice.finish_reason == "stop" and completion.model == "scripted"
    assert completion.usage.prompt_tokens > 0 and completion.usage.total_tokens == \
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    session_id = completion.model_extra["sessionId"]
    assert raw.headers["x-session-id"] == session_id

    mission = await fapi.get("missions/launch")  # it exists and it ran
    assert mission["status"] == "completed" and [t["status"] for t in mission["tasks"]] == ["done", "done"]
    names = [e.event for e in project.replay(after)]
    for name in ("session:created", "message:added", "mission:saved", "task:created", "mission:completed"):
        assert name in names, name
    assert names.index("session:created") < names.index("mission:saved") < names.index("mission:completed")


async def test_streaming_sends_chunks_then_done(client, project, writer):
    script(project, call("list_agents"), say("Your team has one agent: writer."))
    stream = await client.chat.completions.create(model="polpo", stream=True,
                                                  messages=[{"role": "user", "content": "Who is on the team?"}])
    chunks = [chunk async for chunk in stream]

    assert all(c.object == "chat.completion.chunk" for c in chunks) and len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Your team has one agent: writer."
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) > 1  # really streamed
    assert chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].usage.total_tokens > 0
    tools = [c.model_extra["polpo"] for c in chunks if c.model_extra.get("polpo")]
    assert [(t["type"], t["name"]) for t in tools] == [("tool_call", "list_agents"), ("tool_result", "list_agents")]
    assert json.loads(tools[1]["content"])[0]["name"] == "writer"


async def test_the_raw_stream_is_openai_sse_ending_with_done(http: httpx.AsyncClient, project, writer):
    script(project, say("Hello there."))
    body = {"messages": [{"role": "user", "content": "hi"}], "stream": True, "stream_options": {"include_usage": True}}
    async with http.stream("POST", "v1/chat/completions", json=body) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        session_id = response.headers["x-session-id"]
        lines = [line async for line in response.aiter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    payloads = [json.loads(line[6:]) for line in lines[:-1]]
    assert payloads[-1]["choices"] == [] and payloads[-1]["usage"]["total_tokens"] > 0  # include_usage
    assert all(p["sessionId"] == session_id for p in payloads)


async def test_a_client_that_leaves_mid_stream_does_not_stop_the_turn(http: httpx.AsyncClient, project, writer):
    from pydantic_ai.models.function import FunctionModel

    gate = asyncio.Event()

    async def slow(messages, info):
        yield "first words, "
        await gate.wait()
        yield "then the rest."

    project.models.register("scripted", FunctionModel(stream_function=slow))
    body = {"messages": [{"role": "user", "content": "talk"}], "stream": True}
    async with http.stream("POST", "v1/chat/completions", json=body) as response:
        session_id = response.headers["x-session-id"]
        async for line in response.aiter_lines():
            if "first words" in line:
                break  # leave while the model is still talking
    gate.set()

    async def answered() -> bool:
        messages = await project.chat_messages(session_id)
        return messages[-1].role == "assistant" and messages[-1].content == "first words, then the rest."

    await until(answered)


async def test_sessions_are_listed_read_renamed_and_deleted(api: Api, client, project, writer):
    script(project, call("get_status"), say("Quiet."))
    completion = await client.chat.completions.create(model="polpo", messages=[{"role": "user", "content": "Status?"}])
    session_id = completion.model_extra["sessionId"]

    sessions = await api.get("chat/sessions")
    assert [(s["id"], s["title"], s["messageCount"]) for s in sessions] == [(session_id, "Status?", 4)]
    messages = await api.get(f"chat/sessions/{session_id}/messages")
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant"]
    assert messages[1]["toolCalls"][0]["name"] == "get_status"
    assert messages[2]["toolCallId"] == messages[1]["toolCalls"][0]["id"]
    renamed = await api.call("PATCH", f"chat/sessions/{session_id}", json={"title": "Morning check"})
    assert renamed["title"] == "Morning check"
    assert (await api.get(f"chat/sessions/{session_id}"))["title"] == "Morning check"
    api.error(await api.request("PATCH", f"chat/sessions/{session_id}", json={"title": ""}), 400)
    await api.call("DELETE", f"chat/sessions/{session_id}")
    api.error(await api.request("GET", f"chat/sessions/{session_id}/messages"), 404)
    assert await api.get("chat/sessions") == []


async def test_a_session_continues_by_header_or_body_and_new_starts_another(client, project, writer):
    s = script(project, say("one"), say("two"), say("three"), say("four"))
    first = await client.chat.completions.create(model="polpo", messages=[{"role": "user", "content": "A"}])
    sid = first.model_extra["sessionId"]
    second = await client.chat.completions.create(model="polpo", messages=[{"role": "user", "content": "B"}],
                                                  extra_headers={"X-Session-Id": sid})
    third = await client.chat.completions.create(model="polpo", messages=[{"role": "user", "content": "C"}],
                                                 extra_body={"sessionId": sid})
    assert second.model_extra["sessionId"] == third.model_extra["sessionId"] == sid
    assert [m.content for m in await project.chat_messages(sid)] == ["A", "one", "B", "two", "C", "three"]
    fresh = await client.chat.completions.create(model="polpo", messages=[{"role": "user", "content": "D"}],
                                                 extra_body={"sessionId": "new"}, extra_headers={"X-Session-Id": sid})
    assert fresh.model_extra["sessionId"] != sid and len(s.calls[3]["messages"]) == 1


async def test_temperature_and_max_tokens_reach_the_model(client, project, writer):
    s = script(project, say("ok"))
    await client.chat.completions.create(model="polpo", messages=[{"role": "user", "content": "hi"}],
                                         temperature=0.2, max_tokens=50)
    assert s.settings[0]["temperature"] == 0.2 and s.settings[0]["max_tokens"] == 50


def test_every_chat_route_is_called_by_this_file():
    """The route tour leaves the chat routes to this file (server_helpers.COVERED_ELSEWHERE): these are them."""
    chat = {(r.method, r.path) for r in ROUTES if "chat" in r.tags}
    assert chat == {("POST", "chat/completions"), ("GET", "chat/sessions"), ("GET", "chat/sessions/{sessionId}"),
                    ("PATCH", "chat/sessions/{sessionId}"), ("DELETE", "chat/sessions/{sessionId}"),
                    ("GET", "chat/sessions/{sessionId}/messages")}


async def test_agent_talks_to_that_agent_directly(client, project, writer):
    completion = await client.chat.completions.create(model="polpo", messages=[{"role": "user", "content": "Ship it"}],
                                                      extra_body={"agent": "writer"})
    assert completion.choices[0].message.content == "Ship it: done" and completion.model == "agent:writer"


async def test_a_failing_tool_is_answered_to_the_model_not_to_the_client(client, project, writer):
    s = script(project, call("abort_mission", mission="ghost"),
               lambda messages, info: say(f"Could not: {last_tool_return(messages)['error']}"))
    completion = await client.chat.completions.create(model="polpo", messages=[{"role": "user", "content": "Abort"}])
    assert completion.choices[0].message.content == "Could not: Mission not found: ghost"
    assert last_tool_return(s.calls[-1]["messages"])["code"] == "NOT_FOUND"
    tool = (await project.chat_messages(completion.model_extra["sessionId"]))[2]
    assert tool.role == "tool" and tool.is_error


async def test_max_turns_ends_with_finish_reason_length(client, project, writer):
    project.config.orchestrator_max_turns = 2
    s = script(project, call("get_status"))
    completion = await client.chat.completions.create(model="polpo", messages=[{"role": "user", "content": "Loop"}])
    assert completion.choices[0].finish_reason == "length" and "2 model turns" in completion.choices[0].message.content
    assert len(s.calls) == 2


def _openai_error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "code", "param"} and error["message"]
    return error


async def test_errors_are_in_openai_shape(client, http: httpx.AsyncClient, project, writer):
    script(project, say("never said"))
    with pytest.raises(openai.NotFoundError) as info:
        await client.chat.completions.create(model="polpo", messages=[{"role": "user", "content": "hi"}],
                                             extra_body={"agent": "nobody"})
    assert info.value.code == "agent_not_found" and "nobody" in info.value.message

    error = _openai_error(await http.post("v1/chat/completions", content=b"{nope",
                                          headers={"Content-Type": "application/json"}), 400)
    assert error["type"] == "invalid_request_error" and "invalid JSON" in error["message"]
    error = _openai_error(await http.post("v1/chat/completions", json={"model": "polpo"}), 400)
    assert error["param"] == "messages"
    error = _openai_error(await http.post("v1/chat/completions", json={"messages": [{"role": "wizard", "content": "x"}]}), 400)
    assert error["param"].startswith("messages.0.role")
    error = _openai_error(await http.post("v1/chat/completions", json={"messages": [{"role": "user", "content": "x"}],
                                                                       "sessionId": "sess_missing"}), 404)
    assert error["code"] == "session_not_found" and error["param"] == "sessionId"
    error = _openai_error(await http.get("v1/chat/completions"), 405)
    # a body over the limit is the client's error too (it was typed `server_error`)
    error = _openai_error(await http.post("v1/chat/completions", content=b"x" * (MAX_BODY_BYTES + 1),
                                          headers={"Content-Type": "application/json"}), 413)
    assert (error["type"], error["code"]) == ("invalid_request_error", "payload_too_large")
    # booleans and numbers are strict, as in every model: `"stream": 1` was taken as a stream without the
    # stream slot a `true` holds (the concurrent-streams limit let any number through)
    for field, value in (("stream", 1), ("stream", "yes"), ("temperature", "0.5"), ("max_tokens", 5.0)):
        error = _openai_error(await http.post("v1/chat/completions", json={
            "messages": [{"role": "user", "content": "x"}], field: value}), 400)
        assert error["param"] == field
    error = _openai_error(await http.post("v1/chat/completions", json={
        "messages": [{"role": "user", "content": "x"}], "stream": True, "stream_options": {"include_usage": "yes"}}), 400)
    assert error["param"] == "stream_options.include_usage"

    project.config.orchestrator_model = None
    with pytest.raises(openai.BadRequestError) as info:
        await client.chat.completions.create(model="polpo", messages=[{"role": "user", "content": "hi"}])
    assert info.value.code == "orchestrator_model_not_configured" and "orchestratorModel" in info.value.message
    assert await project.chat_sessions() == []  # nothing was stored by the failed requests


async def test_without_credentials_it_is_a_401_in_openai_shape(http_server, jp_http_port, jp_base_url, anon):
    error = _openai_error(await anon.post("v1/chat/completions", json={"messages": []}), 401)
    assert error["code"] == "unauthorized"
    bad = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{jp_http_port}{jp_base_url}polpo/v1", api_key="wrong",
                             max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        await bad.chat.completions.create(model="polpo", messages=[{"role": "user", "content": "hi"}])


async def test_the_project_scoped_route_answers_the_same(http: httpx.AsyncClient, project, writer):
    script(project, say("scoped"))
    response = await http.post("api/v1/projects/root_dir/chat/completions",
                               json={"messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 200 and response.json()["choices"][0]["message"]["content"] == "scoped"


async def test_the_sync_openai_client_works_too(http_server, jp_http_port, jp_base_url, jp_serverapp, project, writer):
    script(project, say("from a thread"))
    sync = openai.OpenAI(base_url=f"http://127.0.0.1:{jp_http_port}{jp_base_url}polpo/v1",
                         api_key=jp_serverapp.identity_provider.token, max_retries=0, timeout=30)
    # the server runs on this test's loop: the blocking client runs on a thread
    completion = await asyncio.to_thread(sync.chat.completions.create, model="polpo",
                                         messages=[{"role": "user", "content": "hi"}])
    assert completion.choices[0].message.content == "from a thread"


# == `polpo serve` as a subprocess ========================================================================
# The served project's orchestratorModel is `local:orchestrator`, a provider pointing at a loopback
# OpenAI-compatible server in this test process (polpo_nb.testing): the subprocess reaches the
# script over HTTP through the real pydantic-ai/OpenAI client, streaming included, and nothing leaves the
# machine. The script answers from the conversation it is sent, so it needs no state of its own.

KEY = "sk_test_chat"
SERVE_AGENTS = '''
def writer(task, ctx):
    return f"{task.title}: done"
'''


def _tool_name(messages: list[dict], call_id: str) -> str:
    for message in messages:
        for made in message.get("tool_calls") or []:
            if made["id"] == call_id:
                return made["function"]["name"]
    raise AssertionError(call_id)


def orchestrator_over_http(body: dict) -> dict:
    """User says `launch <name>`: create_mission, execute_mission, wait_for_mission, then report."""
    messages = body["messages"]
    last = messages[-1]
    user = next(m["content"] for m in reversed(messages) if m["role"] == "user")
    name = user.split()[-1]
    if last["role"] == "user":
        if not user.startswith("launch"):
            return text("Hello from the loopback orchestrator.")
        return tool_call("create_mission", {**MISSION, "name": name})
    done = _tool_name(messages, last["tool_call_id"])
    if done == "create_mission":
        return tool_call("execute_mission", {"mission": name})
    if done == "execute_mission":
        return tool_call("wait_for_mission", {"mission": name, "timeoutSeconds": 30})
    return text(f"Mission {name} is {json.loads(last['content'])['status']}.")


@dataclass
class Served:
    url: str
    loopback: LoopbackOpenAI

    def openai(self, key: str = KEY) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "v1", api_key=key, max_retries=0, timeout=60)

    def get(self, path: str) -> Any:
        response = httpx.get(self.url + path, headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def events_until(self, name: str, after: int = 0) -> list[str]:
        """Event names replayed from the start of the server's history until `name` shows up."""
        names: list[str] = []
        with httpx.Client(timeout=30) as http, connect_sse(http, "GET", self.url + f"v1/events?lastEventId={after}",
                                                           headers={"Authorization": f"Bearer {KEY}"}) as source:
            for sse in source.iter_sse():
                names.append(sse.event)
                if sse.event == name:
                    return names
        raise AssertionError(names)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("serve-chat") / "chatty"
    root.mkdir()
    (root / "serve_agents.py").write_text(SERVE_AGENTS)
    loopback = LoopbackOpenAI(orchestrator_over_http).start()
    (root / "polpo.json").write_text(json.dumps({"orchestratorModel": "local:orchestrator",
                                                 "providers": {"local": {"baseUrl": loopback.base_url}}}))
    log = root.parent / "serve.log"
    proc = start_serve(root, port=(port := free_port()), key=KEY, log=log)
    try:
        served = Served(f"http://127.0.0.1:{port}/", loopback)
        response = httpx.post(served.url + "v1/agents", json={"name": "writer", "handler": "serve_agents:writer"},
                              headers={"Authorization": f"Bearer {KEY}"})
        assert response.status_code == 201, response.text
        yield served
    finally:
        code = stop_serve(proc)
        loopback.stop()
    assert code == 0, log.read_text()


def test_serve_orchestrator_creates_and_runs_a_mission(served: Served):
    raw = served.openai().chat.completions.with_raw_response.create(
        model="polpo", messages=[{"role": "user", "content": "launch serve-a"}])
    completion = raw.parse()
    assert completion.choices[0].message.content == "Mission serve-a is completed."
    assert completion.choices[0].finish_reason == "stop" and completion.model == "local:orchestrator"
    assert raw.headers["x-session-id"] == completion.model_extra["sessionId"]
    mission = served.get("v1/missions/serve-a")
    assert mission["status"] == "completed" and [t["result"]["content"] for t in mission["tasks"]] == \
        ["draft: done", "review: done"]
    names = served.events_until("mission:completed")
    assert {"session:created", "message:added", "mission:saved", "task:created"} <= set(names)
    # the loopback saw the orchestrator's tools with their schemas
    first = next(r for r in served.loopback.requests if r["messages"][-1].get("content") == "launch serve-a")
    tools = {t["function"]["name"]: t["function"] for t in first["tools"]}
    assert len(tools) >= 38 and "tasks" in tools["create_mission"]["parameters"]["properties"]


def test_serve_streams_the_orchestrator_over_sse(served: Served):
    stream = served.openai().chat.completions.create(model="polpo", stream=True,
                                                     messages=[{"role": "user", "content": "launch serve-b"}])
    chunks = list(stream)
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content == "Mission serve-b is completed." and chunks[-1].choices[0].finish_reason == "stop"
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) > 1
    calls = [c.model_extra["polpo"]["name"] for c in chunks if (c.model_extra.get("polpo") or {}).get("type") == "tool_call"]
    assert calls == ["create_mission", "execute_mission", "wait_for_mission"]
    assert served.get("v1/missions/serve-b")["status"] == "completed"
    assert served.loopback.requests[-1]["stream"] is True  # the model itself was streamed


def test_serve_sessions_and_errors(served: Served):
    client = served.openai()
    completion = client.chat.completions.create(model="polpo", messages=[{"role": "user", "content": "hi"}])
    sid = completion.model_extra["sessionId"]
    assert completion.choices[0].message.content == "Hello from the loopback orchestrator."
    sessions = served.get("api/v1/projects/chatty/chat/sessions")["data"]
    assert sid in [s["id"] for s in sessions]
    assert [m["role"] for m in served.get(f"v1/chat/sessions/{sid}/messages")] == ["user", "assistant"]
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="polpo", messages=[{"role": "user", "content": "hi"}],
                                       extra_body={"agent": "ghost"})
    assert info.value.code == "agent_not_found"
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="polpo", messages=[])
    with pytest.raises(openai.AuthenticationError):
        served.openai("wrong").chat.completions.create(model="polpo", messages=[{"role": "user", "content": "hi"}])
    direct = client.chat.completions.create(model="polpo", messages=[{"role": "user", "content": "Ship"}],
                                            extra_body={"agent": "writer"})
    assert direct.choices[0].message.content == "Ship: done"
