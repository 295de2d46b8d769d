"""Budgets: a mission stops before it overspends (no new model call starts, it pauses with
`pauseReason: "budget"`, and goes on once the budget is raised and it is resumed); an agent over its own
budget fails its attempt and the retry policy takes over; warnings at 80 %.

The model is a scripted OpenAI-compatible server on loopback reporting 100 tokens per request."""

from __future__ import annotations

import threading

import pytest
from support import EventLog

import polpo_nb as polpo
from polpo_nb.engine.budget import Spent, budget_limits, exhausted, warnings_due
from polpo_nb.spec import MissionStatus, TaskResult, TaskStatus
from polpo_nb.spec.budget import Budget
from polpo_nb.testing import LoopbackOpenAI, last_message, text, tool_call

WAIT = 30


def hundred_tokens(body: dict, message: dict) -> dict:
    return {"prompt_tokens": 60, "completion_tokens": 40, "total_tokens": 100}


def two_turns(body: dict) -> dict:
    """Every agent lists its files once, then answers."""
    if last_message(body)["role"] == "tool":
        return text(f"{body['model']} done")
    return tool_call("list_files", {"path": "."})


def looping(body: dict) -> dict:
    """`chatty` never stops calling tools; `frugal` answers at once."""
    if body["model"] == "chatty":
        return tool_call("list_files", {"path": "."})
    return text("frugal done")


def _config(server: LoopbackOpenAI) -> dict:
    return {"providers": {"local": {"baseUrl": server.base_url}}}


def _chain(budget: dict | None) -> polpo.Mission:
    return polpo.Mission.model_validate({
        "name": "budgeted", "budget": budget,
        "tasks": [{"title": "a", "assignTo": "worker"}, {"title": "b", "assignTo": "worker", "dependsOn": ["a"]},
                  {"title": "c", "assignTo": "worker", "dependsOn": ["b"]}],
        "team": {"agents": [{"name": "worker", "model": "local:worker"}]},
    })


# == the decisions, as pure functions of spend =========================================================

def test_limits_are_reached_at_their_value_and_warned_of_at_80_percent():
    budget = Budget(max_tokens=1000, max_cost_usd=2.0, max_duration="PT1M")
    assert [(lim.name, lim.max) for lim in budget_limits(budget, Spent())] == [
        ("maxTokens", 1000), ("maxCostUsd", 2.0), ("maxDuration", 60.0)]
    assert exhausted(budget, Spent(tokens=999, cost_usd=1.99, seconds=59.9)) == []
    assert [lim.name for lim in exhausted(budget, Spent(tokens=1000))] == ["maxTokens"]
    assert [lim.name for lim in exhausted(budget, Spent(cost_usd=2.5, seconds=61))] == ["maxCostUsd", "maxDuration"]
    assert exhausted(None, Spent(tokens=10**9)) == []
    assert [lim.name for lim in warnings_due(budget, Spent(tokens=799, seconds=48), [])] == ["maxDuration"]
    assert [lim.name for lim in warnings_due(budget, Spent(tokens=800), [])] == ["maxTokens"]
    assert warnings_due(budget, Spent(tokens=900), [("maxTokens", 1000)]) == []  # warned once
    raised = Budget(max_tokens=2000)
    assert warnings_due(raised, Spent(tokens=1700), [("maxTokens", 1000)])[0].max == 2000  # a raised limit warns again


def test_a_mission_file_carries_the_budgets(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("name: m\nbudget: {maxTokens: 5000, maxCostUsd: 1.5, maxDuration: PT10M}\n"
                    "tasks: [{title: t, assignTo: a}]\nteam: {agents: [{name: a, model: test, budget: {maxTokens: 900}}]}\n")
    mission = polpo.Mission.load(path)
    assert mission.budget == Budget(max_tokens=5000, max_cost_usd=1.5, max_duration="PT10M")
    assert mission.budget.max_seconds == 600 and mission.team.agents[0].budget.max_tokens == 900
    mission.dump(tmp_path / "again.yaml")
    assert polpo.Mission.load(tmp_path / "again.yaml").budget == mission.budget


def test_a_budget_is_checked_as_any_field_in_the_users_terms():
    with pytest.raises(polpo.SpecError, match="budget.maxDuration"):
        polpo.Mission("m", budget={"maxDuration": "two hours"})
    with pytest.raises(polpo.SpecError, match="budget.maxTokens"):
        polpo.Agent(name="a", budget={"maxTokens": 0})
    assert polpo.Mission("m", budget=Budget(max_cost_usd=5)).to_wire()["budget"] == {"maxCostUsd": 5.0}


# == a mission's budget ================================================================================

def test_a_mission_pauses_when_its_token_budget_is_spent_and_goes_on_once_it_is_raised(project_dir):
    with LoopbackOpenAI(two_turns, usage=hundred_tokens) as server, polpo.Project(project_dir, config=_config(server)) as project:
        log = EventLog(project)
        record = project.execute(_chain({"maxTokens": 300})).wait(WAIT)

        # a: 2 calls (200 tokens); b's first call starts at 200 < 300 and brings the spend to 300: b's second
        # call never starts
        assert len(server.requests) == 3
        assert record.status == MissionStatus.PAUSED and record.pause_reason == "budget"
        assert "maxTokens 300 of 300 tokens" in record.pause_message
        by = {t.title: t for t in record.tasks}
        assert by["a"].status == TaskStatus.DONE
        assert by["b"].status == TaskStatus.PENDING and by["b"].retries == 0  # given back, no retry burnt
        assert by["c"].status == TaskStatus.PENDING
        assert [a.status for a in project.attempts(by["b"].id)] == ["budget"]
        exceeded = log.of("budget:exceeded")
        assert len(exceeded) == 1 and exceeded[0]["scope"] == "mission"
        assert exceeded[0]["limits"] == [{"limit": "maxTokens", "used": 300, "max": 300}]
        warning = log.of("budget:warning")
        assert [(w["scope"], w["limit"], w["used"]) for w in warning] == [("mission", "maxTokens", 300)]
        assert log.names().index("budget:warning") < log.names().index("budget:exceeded")
        usage = project.mission_usage("budgeted")
        assert usage.total.total_tokens == 300 and usage.budget_used == [{"limit": "maxTokens", "used": 300, "max": 300}]

        with pytest.raises(polpo.ConflictError, match=r"has spent its budget \(maxTokens 300 of 300 tokens\)"):
            project.resume("budgeted")  # nothing could run: the budget must be raised first
        assert project.get_mission("budgeted").status == MissionStatus.PAUSED and len(server.requests) == 3

        project.update_mission("budgeted", {"budget": {"maxTokens": 1000}})
        record = project.resume("budgeted").wait(WAIT)
        assert record.status == MissionStatus.COMPLETED
        assert len(server.requests) == 7  # b again (2) and c (2)
        assert project.mission_usage("budgeted").total.total_tokens == 700 == sum(
            u["total_tokens"] for u in server.reported)


def test_a_mission_without_budget_is_not_stopped(project_dir):
    with LoopbackOpenAI(two_turns, usage=hundred_tokens) as server, polpo.Project(project_dir, config=_config(server)) as project:
        log = EventLog(project)
        record = project.execute(_chain(None)).wait(WAIT)
        assert record.status == MissionStatus.COMPLETED and len(server.requests) == 6
        assert not log.names("budget:")


def test_concurrent_attempts_finish_their_current_call_and_start_no_other(project_dir):
    mission = polpo.Mission.model_validate({
        "name": "wide", "budget": {"maxTokens": 100},  # spent by any one call
        "tasks": [{"title": f"t{i}", "assignTo": "worker"} for i in range(4)],
        "team": {"agents": [{"name": "worker", "model": "local:worker"}]},
    })
    together = threading.Barrier(4, timeout=WAIT)

    def first_calls_together(body: dict) -> dict:
        """No first call is answered before all four are in flight: each was let through at 0 spent. (With
        a budget two calls' worth, a task whose answer came first could make its second call before the
        others' answers were counted, as happened on a loaded machine.)"""
        if last_message(body)["role"] != "tool":
            together.wait()
        return two_turns(body)
    with LoopbackOpenAI(first_calls_together, usage=hundred_tokens) as server, \
            polpo.Project(project_dir, config={**_config(server), "maxConcurrency": 4}) as project:
        record = project.execute(mission).wait(WAIT)
        # four first calls are made together at 0 spent, and each finishes; every second call is refused
        assert len(server.requests) == 4
        assert record.status == MissionStatus.PAUSED and record.pause_reason == "budget"
        assert all(t.status == TaskStatus.PENDING for t in record.tasks)
        assert project.mission_usage("wide").total.total_tokens == 400


# == an agent's budget =================================================================================

def test_an_agent_over_its_budget_fails_the_attempt_and_the_fallback_agent_takes_over(project_dir):
    mission = polpo.Mission.model_validate({
        "name": "fallback",
        "tasks": [{"title": "t", "assignTo": "chatty", "maxRetries": 1,
                   "retryPolicy": {"escalateAfter": 1, "fallbackAgent": "frugal"}}],
        "team": {"agents": [{"name": "chatty", "model": "local:chatty", "budget": {"maxTokens": 150}},
                            {"name": "frugal", "model": "local:frugal"}]},
    })
    with LoopbackOpenAI(looping, usage=hundred_tokens) as server, polpo.Project(project_dir, config=_config(server)) as project:
        log = EventLog(project)
        record = project.execute(mission).wait(WAIT)
        attempts = project.attempts(record.tasks[0].id)

    assert record.status == MissionStatus.COMPLETED
    assert [r["model"] for r in server.requests] == ["chatty", "chatty", "frugal"]  # no third call for chatty
    assert [(a.agent, a.status) for a in attempts] == [("chatty", "failed"), ("frugal", "completed")]
    first = TaskResult.model_validate_json(attempts[0].result)
    error = first.error
    assert error.startswith("agent 'chatty' spent its budget for attempt 1 of task 't' (maxTokens 200 of 150 tokens)")
    assert "Traceback" not in error
    assert first.usage.total_tokens == 200
    exceeded = log.of("budget:exceeded")
    assert [(e["scope"], e["agentName"]) for e in exceeded] == [("agent", "chatty")]
    assert [(w["scope"], w["limit"]) for w in log.of("budget:warning")] == [("agent", "maxTokens")]
    assert record.tasks[0].result.agent == "frugal"


def test_an_agents_duration_budget_stops_its_function_attempt_and_the_retry_policy_applies(project_dir):
    """An agent's `maxDuration` bounds each of its attempts. Checked only where a model call starts, it
    never stopped a function agent, which makes none: its first attempt here would have run a minute.
    It now ends at the agent's time, fails with the budget's error (and `budget:exceeded`), and the
    task's retries go on as after any failed attempt."""
    import asyncio

    calls: list[int] = []

    async def stuck_once(task, ctx):
        calls.append(ctx.attempt)
        if len(calls) == 1:
            await asyncio.sleep(60)
        return "done"

    with polpo.Project(project_dir) as project:
        project.agent("w", budget={"maxDuration": "PT0.3S"})(stuck_once)
        log = EventLog(project)
        record = project.execute({"name": "agent-timed",
                                  "tasks": [{"title": "a", "assignTo": "w", "maxRetries": 1}]}).wait(WAIT)
        [task] = record.tasks
        attempts = project.attempts(task.id)
    assert record.status == MissionStatus.COMPLETED and task.status == TaskStatus.DONE and task.retries == 1
    assert calls == [1, 2]
    assert [a.status for a in attempts] == ["failed", "completed"]
    error = TaskResult.model_validate_json(attempts[0].result).error
    assert error.startswith("agent 'w' spent its budget for attempt 1 of task 'a' (maxDuration ")
    assert error.endswith("of 0.3 s); it was stopped") and "Traceback" not in error
    [exceeded] = log.of("budget:exceeded")
    assert (exceeded["scope"], exceeded["agentName"]) == ("agent", "w")
    assert exceeded["limits"][0]["limit"] == "maxDuration" and exceeded["limits"][0]["used"] >= 0.3
    assert not log.of("task:timeout")  # the task has no maxDuration: the budget stopped it, and says so


def test_an_agents_duration_budget_stops_a_model_call_that_outlasts_it(project_dir):
    """The same deadline bounds an LLM agent's attempt: a model call slower than the agent's whole time
    is not waited for to its end."""
    mission = polpo.Mission.model_validate({
        "name": "slow-model", "tasks": [{"title": "t", "assignTo": "slow", "maxRetries": 0}],
        "team": {"agents": [{"name": "slow", "model": "local:slow", "budget": {"maxDuration": "PT0.3S"}}]},
    })
    with LoopbackOpenAI(lambda body: text("late"), latency=3.0) as server, \
            polpo.Project(project_dir, config=_config(server)) as project:
        record = project.execute(mission).wait(WAIT)
        [attempt] = project.attempts(record.tasks[0].id)
    assert record.tasks[0].status == TaskStatus.FAILED and attempt.status == "failed"
    error = TaskResult.model_validate_json(attempt.result).error
    assert error.startswith("agent 'slow' spent its budget for attempt 1 of task 't' (maxDuration ")
    assert error.endswith("it was stopped")


def test_usage_reported_with_a_result_counts_toward_the_budget(project_dir):
    """An agent whose calls were not metered here (a remote worker's LLM agent; here a function agent that
    reports its usage) still spends the mission's budget: the next model call is refused."""
    mission = polpo.Mission.model_validate({
        "name": "reported", "budget": {"maxTokens": 100},
        "tasks": [{"title": "remote", "assignTo": "far"}, {"title": "local", "assignTo": "worker", "dependsOn": ["remote"]}],
        "team": {"agents": [{"name": "far", "model": "local:far"}, {"name": "worker", "model": "local:worker"}]},
    })
    with LoopbackOpenAI(two_turns, usage=hundred_tokens) as server, polpo.Project(project_dir, config=_config(server)) as project:
        project.agent("far")(lambda task, ctx: {"content": "done far away",
                                                "usage": {"inputTokens": 80, "outputTokens": 40, "requests": 1}})
        record = project.execute(mission).wait(WAIT)
        assert record.status == MissionStatus.PAUSED and record.pause_reason == "budget"
        assert server.requests == []  # the local agent's first call did not start
        assert project.mission_usage("reported").total.total_tokens == 120


def test_a_cost_budget_stops_at_the_priced_spend(project_dir):
    """At $100/M tokens a request of 100 tokens costs $0.01: a $0.025 budget fits three calls (the third
    starts at $0.02), and the mission pauses before a fourth."""
    prices = {"local:worker": {"inputPerMtok": 100, "outputPerMtok": 100}}
    with LoopbackOpenAI(two_turns, usage=hundred_tokens) as server, polpo.Project(project_dir, config={
            **_config(server), "prices": prices}) as project:
        record = project.execute(_chain({"maxCostUsd": 0.025})).wait(WAIT)
        assert record.status == MissionStatus.PAUSED and record.pause_reason == "budget"
        assert len(server.requests) == 3
        assert "maxCostUsd 0.03 of 0.025 USD" in record.pause_message
        assert project.mission_usage("budgeted").total.cost_usd == pytest.approx(0.03)


def test_a_missions_duration_budget_bounds_function_agents_too(project_dir):
    """Checked only where a model call starts, `maxDuration` never stopped a mission of function agents:
    their time was not counted, nor stored for a resume elsewhere. (The first task alone takes more than
    the budget, whatever the machine's load: the second is refused at its start, never by a race.)"""
    import time

    def slow(task, ctx):
        time.sleep(1.1)
        return f"did {task.title}"

    mission = {"name": "timed", "budget": {"maxDuration": "PT1S"},
               "tasks": [{"title": "a", "assignTo": "w"}, {"title": "b", "assignTo": "w", "dependsOn": ["a"]},
                         {"title": "c", "assignTo": "w", "dependsOn": ["b"]}]}
    with polpo.Project(project_dir) as project:
        project.agent("w")(slow)
        log = EventLog(project)
        record = project.execute(mission).wait(WAIT)
        by = {t.title: t for t in record.tasks}
        assert record.status == MissionStatus.PAUSED and record.pause_reason == "budget"
        assert by["a"].status == TaskStatus.DONE  # nothing was spent when it started
        assert by["b"].status == TaskStatus.PENDING and by["b"].retries == 0
        assert [a.status for a in project.attempts(by["b"].id)] == ["budget"]
        assert by["c"].status == TaskStatus.PENDING and project.attempts(by["c"].id) == []
        [exceeded] = log.of("budget:exceeded")
        assert exceeded["limits"][0]["limit"] == "maxDuration" and exceeded["limits"][0]["used"] >= 1.1
    with polpo.Project(project_dir) as elsewhere:  # what a took was stored: a resume here knows it
        elsewhere.agent("w")(slow)
        with pytest.raises(polpo.ConflictError, match=r"has spent its budget \(maxDuration [\d.]+ of 1 s"):
            elsewhere.resume("timed")
        elsewhere.update_mission("timed", {"budget": {"maxDuration": "PT10S"}})
        assert elsewhere.resume("timed").wait(WAIT).status == MissionStatus.COMPLETED
