"""Errors a Python user meets while running missions speak of what they did, not of HTTP routes, the state
table or pydantic internals."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

import polpo_nb as polpo
from polpo_nb.errors import ConflictError, NotFoundError, PolpoError, SpecError


@pytest.fixture
def held(project: polpo.Project):
    """A function agent that holds its task until released: a mission that stays active."""
    release = threading.Event()

    @project.agent("slow")
    def slow(task, ctx):
        release.wait(30)
        return "ok"

    yield release
    release.set()


def test_running_an_active_mission_again_says_it_is_active_in_python_terms(project, held):
    mission = polpo.Mission("m").task("a", assign_to="slow")
    run = project.execute(mission)
    with pytest.raises(ConflictError) as info:
        project.execute(mission)
    assert info.value.message == "Mission 'm' is already active; abort it first"
    held.set()
    assert run.wait().status.value == "completed"


def test_replacing_the_tasks_of_an_active_mission_names_no_http_route(project, held):
    project.execute(polpo.Mission("m").task("a", assign_to="slow"))
    with pytest.raises(ConflictError) as info:
        project.update_mission("m", {"tasks": [{"title": "b", "assignTo": "slow"}]})
    assert "route" not in info.value.message
    assert info.value.message.startswith("Mission 'm' is active: its task list cannot be replaced while it runs")


def test_retrying_a_done_task_says_only_failed_tasks_can_be_retried(project):
    project.agent("w")(lambda task, ctx: "ok")
    record = project.execute(polpo.Mission("m").task("a", assign_to="w")).wait()
    task = record.tasks[0]
    with pytest.raises(PolpoError) as info:
        project.retry_task(task.id)
    assert "only a failed task can be retried" in info.value.message
    assert "can go to" not in info.value.message and "pending" not in info.value.message


def test_running_a_name_that_is_neither_a_file_nor_a_mission_says_both(project, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NotFoundError) as info:
        project.execute("nosuch.yaml")
    assert info.value.message == f"No mission file {tmp_path / 'nosuch.yaml'} and no saved mission named 'nosuch.yaml'"
    with pytest.raises(NotFoundError, match="No saved mission named 'nosuch'"):
        project.execute("nosuch")


def test_executing_a_mission_file_path_runs_it(project, tmp_path: Path, monkeypatch):
    project.agent("w")(lambda task, ctx: "ok")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.yaml").write_text("name: from-file\ntasks:\n  - title: a\n    assignTo: w\n")
    assert project.execute("m.yaml").wait().name == "from-file"


@pytest.mark.parametrize(("build", "field"), [
    (lambda: polpo.Agent(name="a", max_turns="many"), "max_turns"),  # named as the user spelled it
    (lambda: polpo.Task(title="t", assign_to="a", priority=float("nan")), "priority"),
    (lambda: polpo.QualityGate(name="g", after_tasks=["a"], blocks_tasks=["b"], min_score=9), "min_score"),
    (lambda: polpo.Team(name="t", agents=[{"name": "a", "volatile": "yes"}]), "agents.0.volatile"),
])
def test_every_builder_model_raises_spec_error_naming_the_field(build, field):
    with pytest.raises(polpo.SpecError) as info:
        build()
    assert any(".".join(map(str, e["loc"])).startswith(field) for e in info.value.errors), info.value.errors


@pytest.mark.parametrize("returned", [object(), [1, {"a": object()}], {"when": {1, 2}, "f": len}])
def test_an_agent_returning_what_json_cannot_carry_fails_its_attempt_and_is_retried(project, returned):
    """It failed as an "engine error" in the commit (polpo's traceback, no retry)."""
    project.agent("w")(lambda task, ctx: returned)
    record = project.execute(polpo.Mission("m").task("a", assign_to="w", max_retries=1)).wait(30)
    task = record.tasks[0]
    assert task.status.value == "failed" and task.retries == 1
    last = task.result.error.strip().splitlines()[-1]
    assert "JSON cannot carry" in last and "data" in last
    assert [a.status for a in project.attempts(task.id)] == ["failed", "failed"]


@pytest.mark.parametrize("returned", [
    {"score": float("nan")},                                  # data, as pandas hands out
    [1.0, float("inf")],
    {"content": "done", "data": {"rows": [{"mean": float("-inf")}]}},  # a TaskResult-shaped dict
])
def test_an_agent_returning_nan_fails_its_attempt_saying_where_and_stores_strict_json(project, returned):
    project.agent("w")(lambda task, ctx: returned)
    record = project.execute(polpo.Mission("m").task("a", assign_to="w", max_retries=0)).wait(30)
    task = record.tasks[0]
    assert task.status.value == "failed"
    last = task.result.error.strip().splitlines()[-1]
    assert "is NaN or an infinity, which JSON cannot carry" in last and "data" in last

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} in the stored JSON")
    with project.aio.store.read() as tx:
        for doc in tx.task_docs():
            json.loads(doc[2], parse_constant=refuse)  # what every browser's JSON.parse would accept


def test_a_mission_with_many_bad_tasks_names_the_first_problems_and_counts_the_rest(project):
    """Five hundred tasks for an agent that does not exist: the message a person reads (a traceback, the
    CLI, an HTTP body) names the first problems and how many more there are, not every one of them;
    `errors` keeps them all for code."""
    tasks = [{"title": f"t{i}", "assignTo": "nobody"} for i in range(500)]
    with pytest.raises(SpecError) as info:
        project.save_mission({"name": "big", "tasks": tasks})
    error = info.value
    assert len(error.errors) == 500
    assert error.message.startswith("tasks.0.assignTo: unknown agent 'nobody'")
    assert error.message.endswith("; and 490 more problems (each one is in the error's `errors`)")
    assert "tasks.9.assignTo" in error.message and "tasks.10.assignTo" not in error.message
    assert str(error) == error.message
    assert project.list_missions() == []  # nothing saved


@pytest.mark.parametrize("listing", ["list_tasks", "list_missions", "tasks_df", "missions_df"])
def test_an_unknown_status_filter_is_refused_naming_the_statuses_not_an_empty_list(project, listing):
    project.agent("w")(lambda task, ctx: "ok")
    project.execute(polpo.Mission("m").task("a", assign_to="w")).wait(30)
    with pytest.raises(SpecError) as info:
        getattr(project, listing)(status="complete")  # a mission is "completed", a task "done"
    assert info.value.errors[0]["loc"] == ["status"]
    assert "'complete' is not a" in info.value.message and ("'done'" in info.value.message
                                                             or "'completed'" in info.value.message)
    assert len(getattr(project, listing)(status="done" if "task" in listing else "completed")) == 1


def test_an_engine_error_during_an_attempt_ends_it_failed_not_killed(project, monkeypatch):
    """polpo's own failure while the attempt runs (here its assessment raising): the task fails with
    polpo's traceback, and the attempt is recorded `failed`, as the task is; `killed` says someone
    killed it, which nobody did."""
    import polpo_nb.engine.attempts as attempts

    async def broken(*args, **kwargs):
        raise RuntimeError("the assessment broke")
    monkeypatch.setattr(attempts, "assess", broken)
    project.agent("w")(lambda task, ctx: "done")
    record = project.execute(polpo.Mission("m").task("a", assign_to="w", max_retries=2)).wait(30)
    task = record.tasks[0]
    assert task.status.value == "failed" and "the assessment broke" in task.result.error
    assert [a.status for a in project.attempts(task.id)] == ["failed"]
    events = [e for e in project.replay() if e.event == "task:transition" and e.data["to"] == "failed"]
    assert [e.data.get("reason") for e in events] == ["engine error"]
