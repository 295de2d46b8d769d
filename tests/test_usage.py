"""Attribution: every call's tokens, requests, tool calls, USD and time, as the model reported them,
rolled up per task, agent, model and mission; the judge's under `judge`; unpriced calls flagged.

A scripted OpenAI-compatible server on loopback reports a known usage per request; the totals must be
exactly the sums of what it reported."""

from __future__ import annotations

import itertools
import threading
from collections import defaultdict
from decimal import Decimal

import pytest

import polpo_nb as polpo
from polpo_nb.spec import MissionStatus
from polpo_nb.testing import LoopbackOpenAI, last_message, text, tool_call, tool_names

WAIT = 30
PRICES = {"local:writer": {"inputPerMtok": 3.0, "outputPerMtok": 15.0, "cachedInputPerMtok": 0.3}}


class Reporter:
    """Usage per request, different each time (so a sum cannot come out right by accident), remembered
    per model name as the server saw it."""

    def __init__(self) -> None:
        self.n = itertools.count(1)
        self.by_model: dict[str, list[dict]] = defaultdict(list)
        self.lock = threading.Lock()

    def __call__(self, body: dict, message: dict) -> dict:
        with self.lock:
            i = next(self.n)
            usage = {"prompt_tokens": 1000 + 37 * i, "completion_tokens": 50 + 11 * i,
                     "prompt_tokens_details": {"cached_tokens": 100 * i}}
            usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
            self.by_model[body["model"]].append(usage)
            return usage

    def sums(self, model: str) -> tuple[int, int, int, int]:
        rows = self.by_model[model]
        return (sum(u["prompt_tokens"] for u in rows), sum(u["completion_tokens"] for u in rows),
                sum(u["prompt_tokens_details"]["cached_tokens"] for u in rows), len(rows))


def script(body: dict) -> dict:
    """writer: a tool call, then its answer; reviewer: one answer; the judge: a verdict of 4."""
    if "final_result" in tool_names(body):
        return tool_call("final_result", {"score": 4, "feedback": "fine"})
    if body["model"] == "writer" and last_message(body)["role"] != "tool":
        return tool_call("write_file", {"path": "notes.md", "content": "notes\n"})
    return text(f"{body['model']} done")


@pytest.fixture
def reporter() -> Reporter:
    return Reporter()


@pytest.fixture
def server(reporter: Reporter):
    with LoopbackOpenAI(script, usage=reporter) as srv:
        yield srv


def _mission() -> polpo.Mission:
    return polpo.Mission.model_validate({
        "name": "spend", "tasks": [
            {"title": "write", "assignTo": "writer", "expectations": ["The notes are useful"]},
            {"title": "review", "assignTo": "reviewer", "dependsOn": ["write"]},
        ],
        "team": {"agents": [{"name": "writer", "model": "local:writer"}, {"name": "reviewer", "model": "local:other"}]},
    })


def _project(project_dir, server) -> polpo.Project:
    return polpo.Project(project_dir, config={"providers": {"local": {"baseUrl": server.base_url}},
                                              "judgeModel": "local:judge", "prices": PRICES})


def _expected_cost(reporter: Reporter, model: str) -> Decimal:
    price = PRICES[f"local:{model}"]
    total = Decimal(0)
    for u in reporter.by_model[model]:
        cached = u["prompt_tokens_details"]["cached_tokens"]
        total += (Decimal(str(price["inputPerMtok"])) * (u["prompt_tokens"] - cached)
                  + Decimal(str(price["cachedInputPerMtok"])) * cached
                  + Decimal(str(price["outputPerMtok"])) * u["completion_tokens"]) / 1_000_000
    return total


def test_totals_per_task_agent_model_and_mission_are_exactly_what_the_model_reported(project_dir, server, reporter):
    with _project(project_dir, server) as project:
        record = project.execute(_mission()).wait(WAIT)
        usage = project.mission_usage("spend")
        by_kind = {line.key: line for line in project.usage("kind")}
    assert record.status == MissionStatus.COMPLETED
    write, review = record.tasks

    w_in, w_out, w_cached, w_requests = reporter.sums("writer")
    r_in, r_out, r_cached, r_requests = reporter.sums("other")
    j_in, j_out, j_cached, j_requests = reporter.sums("judge")
    assert (w_requests, r_requests, j_requests) == (2, 1, 1)

    total = usage.total
    assert (total.input_tokens, total.output_tokens, total.cached_tokens, total.requests) == (
        w_in + r_in + j_in, w_out + r_out + j_out, w_cached + r_cached + j_cached, 4)
    assert total.total_tokens == total.input_tokens + total.output_tokens
    assert total.attempts == 2 and total.tool_calls == 2  # the writer's write_file and the judge's verdict

    agents = {line.key: line for line in usage.by_agent}
    assert set(agents) == {"writer", "reviewer", "judge"}
    assert (agents["writer"].input_tokens, agents["writer"].output_tokens, agents["writer"].cached_tokens,
            agents["writer"].requests, agents["writer"].tool_calls) == (w_in, w_out, w_cached, 2, 1)
    assert (agents["judge"].input_tokens, agents["judge"].output_tokens, agents["judge"].requests) == (j_in, j_out, 1)
    assert (agents["reviewer"].input_tokens, agents["reviewer"].output_tokens) == (r_in, r_out)

    tasks = {line.key: line for line in usage.by_task}
    assert set(tasks) == {write.id, review.id, "judge"}  # the judge's review is its own, not hidden in the task
    assert tasks[write.id].label == "write" and tasks[write.id].input_tokens == w_in
    assert tasks[review.id].output_tokens == r_out

    # each task's result says what its attempt spent, the same numbers
    assert (write.result.usage.input_tokens, write.result.usage.output_tokens, write.result.usage.requests) == (
        w_in, w_out, 2)
    assert review.result.usage.cached_tokens == r_cached

    # the writer's model is priced by the project's prices, exactly; the other two are flagged
    models = {line.key: line for line in usage.by_model}
    assert Decimal(str(models["local:writer"].cost_usd)) == _expected_cost(reporter, "writer")
    assert models["local:writer"].unpriced_requests == 0
    assert models["local:other"].cost_usd is None
    assert (models["local:other"].unpriced_requests, models["local:other"].unpriced_tokens) == (1, r_in + r_out)
    assert (models["local:judge"].unpriced_requests, models["local:judge"].unpriced_tokens) == (1, j_in + j_out)
    assert total.unpriced_requests == 2 and total.unpriced_tokens == r_in + r_out + j_in + j_out
    assert Decimal(str(total.cost_usd)) == _expected_cost(reporter, "writer")
    assert write.result.usage.cost_usd is not None and review.result.usage.cost_usd is None
    assert review.result.usage.unpriced_requests == 1

    # the attempts' wall time is counted; the project's rollup by kind sums to the same total
    assert agents["writer"].duration_ms == pytest.approx(write.result.duration_ms)
    assert {k: v.requests for k, v in by_kind.items()} == {"attempt": 3, "judge": 1}


def test_usage_dataframes_of_the_project_and_of_a_run(project_dir, server, reporter):
    with _project(project_dir, server) as project:
        run = project.execute(_mission())
        run.wait(WAIT)
        by_agent = project.usage_df(by="agent").set_index("key")
        by_task = run.usage_df()
        with pytest.raises(polpo.SpecError, match="usage is grouped by"):
            project.usage_df(by="colour")
    w_in, w_out, _, _ = reporter.sums("writer")
    assert by_agent.loc["writer", "input_tokens"] == w_in and by_agent.loc["writer", "output_tokens"] == w_out
    assert by_agent.loc["judge", "requests"] == 1
    assert by_agent["cost_usd"].isna().tolist() == [False, True, True]  # writer priced; judge, reviewer flagged
    assert list(by_task["label"]) == ["write", "judge", "review"]
    assert by_task["total_tokens"].sum() == sum(sum(u["total_tokens"] for u in rows)
                                                 for rows in reporter.by_model.values())


def test_the_model_registry_price_overrides_genai_prices_and_an_unknown_model_is_unpriced():
    from pydantic_ai.messages import ModelResponse, TextPart
    from pydantic_ai.usage import RequestUsage

    from polpo_nb.spec.config import ModelPrice
    from polpo_nb.usage.pricing import response_cost

    def response(model: str, provider: str | None) -> ModelResponse:
        return ModelResponse(parts=[TextPart("x")], model_name=model, provider_name=provider,
                             usage=RequestUsage(input_tokens=2_000_000, output_tokens=1_000_000))

    known = response_cost(response("gpt-4o", "openai"), "openai:gpt-4o", {})
    assert known is not None and known > 0  # genai-prices knows it
    override = {"openai:gpt-4o": ModelPrice(input_per_mtok=1, output_per_mtok=2)}
    assert response_cost(response("gpt-4o", "openai"), "openai:gpt-4o", override) == Decimal(4)
    assert response_cost(response("my-finetune", "local"), "local:my-finetune", {}) is None


def test_the_chat_orchestrators_calls_are_counted_as_chats(project_dir, reporter):
    def orchestrator(body: dict) -> dict:
        if last_message(body)["role"] == "tool":
            return text("There are no missions yet.")
        return tool_call("list_missions", {})

    with LoopbackOpenAI(orchestrator, usage=reporter) as server, polpo.Project(project_dir, config={
            "providers": {"local": {"baseUrl": server.base_url}}, "orchestratorModel": "local:orch"}) as project:
        reply = project.chat("What missions are there?")
        lines = {line.key: line for line in project.usage("agent")}
        kinds = {line.key: line for line in project.usage("kind")}
    o_in, o_out, o_cached, o_requests = reporter.sums("orch")
    assert reply.content == "There are no missions yet." and o_requests == 2
    assert set(lines) == {"chat"}
    assert (lines["chat"].input_tokens, lines["chat"].output_tokens, lines["chat"].cached_tokens,
            lines["chat"].requests, lines["chat"].tool_calls) == (o_in, o_out, o_cached, 2, 1)
    assert lines["chat"].unpriced_requests == 2  # local:orch has no price: flagged
    assert set(kinds) == {"chat"}


def test_a_reassessment_is_the_judges_spend_too(project_dir, server, reporter):
    with _project(project_dir, server) as project:
        record = project.execute(_mission()).wait(WAIT)
        write = record.tasks[0]
        before = {line.key: line for line in project.usage("agent")}["judge"]
        assert project.reassess_task(write.id).status.value == "done"
        after = {line.key: line for line in project.usage("agent")}["judge"]
    j_in, j_out, _, j_requests = reporter.sums("judge")
    assert (before.requests, after.requests, j_requests) == (1, 2, 2)
    assert (after.input_tokens, after.output_tokens) == (j_in, j_out)
