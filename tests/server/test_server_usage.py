"""`GET missions/:id/usage` and a mission budget over HTTP, in both dialects, on a real Jupyter server and
a scripted OpenAI-compatible model on loopback (100 tokens a request): the mission pauses when its
budget is spent; PATCH raises it, resume completes it; the usage is what the model reported."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from traitlets.config import Config

from polpo_nb.testing import LoopbackOpenAI, last_message, text, tool_call


def two_turns(body: dict) -> dict:
    return text("done") if last_message(body)["role"] == "tool" else tool_call("list_files", {"path": "."})


def hundred(body: dict, message: dict) -> dict:
    return {"prompt_tokens": 70, "completion_tokens": 30, "total_tokens": 100}


@pytest.fixture
def server() -> Iterator[LoopbackOpenAI]:
    with LoopbackOpenAI(two_turns, usage=hundred) as srv:
        yield srv


@pytest.fixture
def jp_server_config(jp_root_dir, server) -> Config:
    """The project's config names the loopback model before the server opens the project."""
    (jp_root_dir / ".polpo").mkdir(exist_ok=True)
    (jp_root_dir / ".polpo" / "config.json").write_text(json.dumps({"providers": {"local": {"baseUrl": server.base_url}}}))
    return Config({"ServerApp": {"jpserver_extensions": {"polpo_server": True}}})


async def test_mission_usage_and_budget_over_http(api, server):
    mission = await api.call("POST", "missions", 201, json={
        "name": f"budget-{api.dialect}", "budget": {"maxTokens": 300},
        "tasks": [{"title": "a", "assignTo": "worker"}, {"title": "b", "assignTo": "worker", "dependsOn": ["a"]}],
        "team": {"agents": [{"name": "worker", "model": "local:worker"}]},
    })
    mid = mission["id"]
    assert mission["budget"] == {"maxTokens": 300}
    events = await api.stream("POST", f"missions/{mid}/execute", headers={"Accept": "text/event-stream"})
    name, closing, _ = events[-1]
    assert name == "mission:status" and closing["pauseReason"] == "budget"
    assert closing["usage"]["totalTokens"] == 300 and closing["usage"]["requests"] == 3
    assessed = [data for name, data, _ in events if name == "task:assessment"]
    assert [(a["usage"]["inputTokens"], a["usage"]["outputTokens"], a["usage"]["requests"]) for a in assessed] == [
        (140, 60, 2)]  # task a's attempt
    record = await api.get(f"missions/{mid}")
    assert record["pauseReason"] == "budget" and len(server.requests) == 3

    usage = await api.get(f"missions/{mid}/usage")
    assert usage["missionId"] == mid and usage["total"]["totalTokens"] == 300
    assert (usage["total"]["inputTokens"], usage["total"]["outputTokens"], usage["total"]["requests"]) == (210, 90, 3)
    assert usage["total"]["unpricedRequests"] == 3 and "costUsd" not in usage["total"]  # none priced: no cost, flagged
    assert [line["label"] for line in usage["byTask"]] == ["a", "b"]
    assert [line["key"] for line in usage["byAgent"]] == ["worker"]
    assert usage["budgetUsed"] == [{"limit": "maxTokens", "used": 300, "max": 300}]

    refused = api.error(await api.request("POST", f"missions/{mid}/resume", json={}), 409)
    assert "has spent its budget (maxTokens 300 of 300 tokens)" in refused["error"]
    patched = await api.call("PATCH", f"missions/{mid}", json={"budget": {"maxTokens": 1000}})
    assert patched["budget"] == {"maxTokens": 1000}
    events = await api.stream("POST", f"missions/{mid}/resume", json={}, headers={"Accept": "text/event-stream"})
    name, done, _ = events[-1]
    assert name == "mission:done" and done["status"] == "completed"
    assert done["usage"]["totalTokens"] == 500 and done["usage"]["requests"] == 5
    usage = await api.get(f"missions/{mid}/usage")
    assert usage["total"]["totalTokens"] == 500 == 100 * len(server.requests)
    api.error(await api.request("GET", "missions/nope/usage"), 404)
