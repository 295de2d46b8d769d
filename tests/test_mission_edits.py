"""Editing a saved mission keeps every record that repeats what changed in step with it."""

from __future__ import annotations

import threading

import pytest

import polpo_nb as polpo
from polpo_nb.errors import ConflictError

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
