"""Agents given as data (HTTP, chat, mission files) may name handlers of the project's modules or of a
configured allow-list only; `@project.agent` registration is not limited."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import polpo_nb as polpo
from polpo_nb.errors import SpecError
from polpo_nb.spec import MissionStatus

WAIT = 30


@pytest.mark.parametrize("handler", ["os:system", "subprocess:run", "builtins:exec", "polpo_nb.demo:main"])
def test_an_agent_naming_a_handler_outside_the_project_is_refused(project, handler):
    with pytest.raises(SpecError) as info:
        project.add_agent({"name": "x", "handler": handler})
    assert info.value.errors[0]["loc"] == ["handler"]
    assert handler in info.value.message and "agentHandlerModules" in info.value.message
    assert project.list_agents() == []  # nothing written


def test_a_mission_team_naming_a_handler_outside_the_project_is_refused(project):
    mission = {"name": "m", "tasks": [{"title": "a", "assignTo": "x"}],
               "team": {"agents": [{"name": "x", "handler": "os:system"}]}}
    with pytest.raises(SpecError) as info:
        project.save_mission(mission)
    assert info.value.errors[0]["loc"] == ["team", "agents", 0, "handler"]
    assert project.list_missions() == []


def test_a_handler_in_a_module_of_the_project_runs(project):
    (project.root / "crew_of_this_project.py").write_text("def shout(task, ctx):\n    return task.title.upper()\n")
    project.add_agent({"name": "shouter", "handler": "crew_of_this_project:shout"})
    record = project.execute(polpo.Mission("m").task("hello", assign_to="shouter")).wait(WAIT)
    assert record.status == MissionStatus.COMPLETED and record.tasks[0].result.content == "HELLO"


def test_a_configured_module_may_be_named(project_dir: Path):
    (project_dir / "polpo.json").write_text(json.dumps({"agentHandlerModules": ["polpo_nb"]}))
    project = polpo.Project(project_dir)
    try:
        agent = project.add_agent({"name": "x", "handler": "polpo_nb.demo:main"})
        assert agent.handler == "polpo_nb.demo:main"
    finally:
        project.close()


def test_python_registration_is_not_limited(project):
    project.agent("dumper")(json.dumps)  # a standard library function, registered as code
    [agent] = project.list_agents()
    assert agent.name == "dumper" and agent.handler == "json:dumps"


def test_a_handler_module_another_project_imported_first_is_refused_not_run(tmp_path: Path):
    """A process keeps one module per name: a server serving two projects whose handlers live in modules of
    the same name ran the first project's code for the second project's tasks, without a word. A project
    whose module differs is refused now, naming where the module it would get comes from; one whose file
    is the same (two projects made by `polpo init`, left as made) runs, the code being the same."""
    import uuid

    from polpo_nb.agents import AgentUnavailableError

    module = f"crew_{uuid.uuid4().hex[:8]}"  # a name no other test (or run) imported
    code = {"first": "def work(task, ctx):\n    return 'first'\n", "copy": "def work(task, ctx):\n    return 'first'\n",
            "second": "def work(task, ctx):\n    return 'second'\n"}
    roots = {}
    for tag, source in code.items():
        roots[tag] = tmp_path / tag
        roots[tag].mkdir()
        (roots[tag] / f"{module}.py").write_text(source)
    for tag in ("first", "copy"):
        with polpo.Project(roots[tag]) as project:
            project.add_agent({"name": "w", "handler": f"{module}:work"})
            record = project.execute(polpo.Mission("m").task("t", assign_to="w")).wait(WAIT)
            assert record.status == MissionStatus.COMPLETED and record.tasks[0].result.content == "first"
    with polpo.Project(roots["second"]) as second:
        second.add_agent({"name": "w", "handler": f"{module}:work"})
        with pytest.raises(AgentUnavailableError) as info:
            second.execute(polpo.Mission("m").task("t", assign_to="w"))
        assert str(roots["first"] / f"{module}.py") in info.value.message
        assert f"rename the project's module {module!r}" in info.value.message
        assert second.get_mission("m").status == MissionStatus.DRAFT  # saved, as execute does, and not run
