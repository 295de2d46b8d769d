"""Dry runs (issue 20, what a test API key starts): every LLM call of the run on the offline `test`
model, the run flagged as dry, and it stays dry whoever continues it; side-effecting tasks still wait."""

from __future__ import annotations

from llm_script import Script, say
from support import wait_for

import polpo_nb as polpo
from polpo_nb import dryrun
from polpo_nb.spec import MissionStatus, TaskStatus

WAIT = 30


def _mission() -> polpo.Mission:
    return polpo.Mission.model_validate({
        "name": "release", "team": {"agents": [{"name": "writer", "model": "scripted"}]},
        "tasks": [{"title": "Draft", "description": "Draft the notes", "assignTo": "writer",
                   "expectations": [{"criterion": "The notes are clear"}]},
                  {"title": "Publish", "description": "Publish them", "assignTo": "writer", "dependsOn": ["Draft"],
                   "sideEffects": True},
                  {"title": "Announce", "description": "Announce them", "assignTo": "writer",
                   "dependsOn": ["Publish"], "expectations": [{"criterion": "Everyone hears of it"}]}]})


def test_a_dry_run_stays_dry_when_a_live_caller_approves_and_it_goes_on(project, events):
    script = Script(say("a real model's answer"))
    project.aio.models.register("scripted", script.model)
    (project.root / "polpo.json").write_text('{"judgeModel": "scripted"}')  # a judge of its own, dry too
    with dryrun.scope():
        handle = project.execute(_mission())
    publish = next(t for t in project.get_mission("release").tasks if t.title == "Publish")
    wait_for(lambda: project.get_task(publish.id).status == TaskStatus.AWAITING_APPROVAL)  # never approved by itself
    assert not dryrun.active()
    project.approve_task(publish.id)  # a live caller: what the approval releases is still part of a dry run
    record = handle.wait(WAIT)
    assert record.status == MissionStatus.COMPLETED
    assert script.calls == []  # neither the agents nor the judge asked the scripted model
    assert [d["model"] for d in events.of("agent:spawned")] == ["test", "test", "test"]
    assert events.of("mission:executed")[0]["dryRun"] is True


def test_a_live_run_of_the_same_agent_uses_its_model(project, events):
    script = Script(say("a real model's answer"))
    project.aio.models.register("scripted", script.model)
    mission = _mission()
    mission.tasks = mission.tasks[:1]
    mission.tasks[0].expectations = []
    assert project.execute(mission).wait(WAIT).status == MissionStatus.COMPLETED
    assert len(script.calls) == 1 and [d["model"] for d in events.of("agent:spawned")] == ["scripted"]
    assert "dryRun" not in events.of("mission:executed")[0]
