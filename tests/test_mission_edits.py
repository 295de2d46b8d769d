"""Editing a saved mission keeps every record that repeats what changed in step with it."""

from __future__ import annotations

import threading

import pytest

import polpo_nb as polpo
from polpo_nb.agents import AgentUnavailableError
from polpo_nb.errors import ConflictError
from polpo_nb.spec import MissionStatus

WAIT = 30


def test_a_renamed_mission_s_tasks_carry_its_new_name(project):
    """Each task keeps its mission's name as `group`: after a rename they said the old one, in the
    mission's own answer and in `GET tasks/{id}`, while `?group=new` listed them."""
    project.agent("w")(lambda task, ctx: "ok")
    saved = project.save_mission(polpo.Mission("old").task("a", assign_to="w").task("b", assign_to="w"))
    renamed = project.update_mission(saved.id, {"name": "new"})
    assert [t.group for t in renamed.tasks] == ["new", "new"]
    assert {t.group for t in project.list_tasks(group="new")} == {"new"} and project.list_tasks(group="old") == []
    assert project.get_task(saved.tasks[0].id).group == "new"
    # with its tasks replaced in the same PATCH, the new ones carry it too
    both = project.update_mission(saved.id, {"name": "newer", "tasks": [{"title": "a", "assignTo": "w"},
                                                                       {"title": "c", "assignTo": "w"}]})
    assert [(t.title, t.group) for t in both.tasks] == [("a", "newer"), ("c", "newer")]
    assert project.execute(both.id).wait(WAIT).tasks[0].group == "newer"


def test_a_running_mission_is_not_renamed(project):
    """Its run holds copies of its tasks, which its next writes store: a rename would be written over."""
    release = threading.Event()
    project.agent("slow")(lambda task, ctx: release.wait(WAIT) and "ok")
    run = project.execute(polpo.Mission("m").task("a", assign_to="slow"))
    try:
        with pytest.raises(ConflictError, match="renamed"):
            project.update_mission("m", {"name": "n"})
        assert project.update_mission("m", {"prompt": "still editable"}).prompt == "still editable"
    finally:
        release.set()
    assert run.wait(WAIT).tasks[0].group == "m"
    assert project.update_mission("m", {"name": "n"}).tasks[0].group == "n"


def test_an_agent_deleted_after_the_save_blocks_only_what_uses_it_anew(project):
    """An edit of a mission's prompt or a task's description was refused `unknown agent` once the agent of
    a task was deleted: agents are checked where an assignment is made or changed, and at execute."""
    project.agent("w")(lambda task, ctx: "ok")
    project.add_agent({"name": "gone", "model": "test"})
    saved = project.save_mission(polpo.Mission("m").task("a", assign_to="gone").task("b", assign_to="w"))
    project.remove_agent("gone")
    assert project.update_mission(saved.id, {"prompt": "new words"}).prompt == "new words"
    assert project.update_task(saved.tasks[0].id, {"description": "still a"}).description == "still a"
    with pytest.raises(polpo.SpecError) as info:  # assigning a task to it anew is refused, at the task's field
        project.update_task(saved.tasks[1].id, {"assignTo": "gone"})
    assert [e["loc"] for e in info.value.errors] == [["assignTo"]]
    with pytest.raises(polpo.SpecError) as info:
        project.update_mission(saved.id, {"tasks": [{"title": "a", "assignTo": "gone"}, {"title": "c", "assignTo": "gone"}]})
    assert [e["loc"] for e in info.value.errors] == [["tasks", 1, "assignTo"]]  # the new one only
    with pytest.raises(AgentUnavailableError, match="'gone'"):  # and the run says why before anything starts
        project.execute(saved.id)


def test_a_standalone_task_s_agent_problem_is_at_its_own_field(project):
    with pytest.raises(polpo.SpecError) as info:
        project.create_task({"title": "t", "assignTo": "nobody"})
    assert [e["loc"] for e in info.value.errors] == [["assignTo"]]


def test_save_mission_with_replace_gives_the_saved_mission_of_that_name_the_new_definition(project):
    """`save_mission(..., replace=True)`, the one rule of `polpo save FILE` and of a `%%polpo mission` cell
    run again: a mission of that name gets the new definition (same id, its tasks matched by title), none
    is created; one that runs (active or paused) is refused, in the user's terms, and left as it was."""
    project.agent("w")(lambda task, ctx: "ok")
    first = project.save_mission(polpo.Mission("m").task("a", assign_to="w"))
    with pytest.raises(ConflictError, match="A mission named 'm' already exists"):  # without replace: names are unique
        project.save_mission(polpo.Mission("m").task("b", assign_to="w"))
    again = project.save_mission(polpo.Mission("m").task("a", assign_to="w").task("b", assign_to="w"), replace=True)
    assert (again.id, [t.title for t in again.tasks]) == (first.id, ["a", "b"])
    assert again.tasks[0].id == first.tasks[0].id  # kept by title
    created = project.save_mission(polpo.Mission("n").task("x", assign_to="w"), replace=True)
    assert created.id != first.id and [m.name for m in project.list_missions()] == ["m", "n"]

    held = polpo.Mission("held").task("a", assign_to="w").task("b", assign_to="w", depends_on=["a"]).checkpoint(
        "look", after=["a"], message="Look first")
    assert project.execute(held).wait(WAIT).status == MissionStatus.PAUSED
    with pytest.raises(ConflictError, match=r"^Mission 'held' is paused: abort it \(or let it finish\) first"):
        project.save_mission(polpo.Mission("held").task("c", assign_to="w"), replace=True)
    assert [t.title for t in project.get_mission("held").tasks] == ["a", "b"]
