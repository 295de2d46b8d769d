"""A Mission or Task the user built and hands to `save`/`execute`/`add_task` is validated again and copied.

Pydantic validates a model when it is built, not when an attribute is assigned or one of its lists is
appended to, so what was valid at construction may not be by the time it is saved; and the user keeps
their object, and may change it again while the mission runs. `validated_copy` checks it afresh and
gives the library a copy of its own (through the model's JSON: one string instead of a tree of dicts).
"""

from __future__ import annotations

import pytest

import polpo_nb as polpo
from polpo_nb.errors import SpecError
from polpo_nb.spec import Mission, Task, parse, validated_copy


def _rich() -> Mission:
    """A mission using most of what a spec can hold: nested models, criteria, enums, durations, data."""
    return Mission.model_validate({
        "name": "rich", "prompt": "do it", "qualityThreshold": 3.5, "data": {"k": [1, 2.5, None, "x"]},
        "tasks": [
            {"title": "a", "assignTo": "w", "description": "first", "expectations": ["is good", {"type": "file_exists", "paths": ["out.txt"]}],
             "expectedOutcomes": [{"type": "file", "label": "report", "path": "out.txt"}], "maxRetries": 2,
             "priority": 3, "sideEffects": True, "maxDuration": 90000, "retryPolicy": {"escalateAfter": 1, "fallbackAgent": "v"}},
            {"title": "b", "assignTo": "v", "dependsOn": ["a"]},
        ],
    })


def test_a_missions_copy_equals_what_validating_its_data_gives():
    mission = _rich()
    copy = validated_copy(Mission, mission)
    assert copy == parse(Mission, mission.model_dump(by_alias=True, exclude_none=True))
    assert copy is not mission and copy.tasks[0] is not mission.tasks[0]


def test_the_copy_shares_nothing_the_user_can_change_afterwards():
    mission = _rich()
    copy = validated_copy(Mission, mission)
    mission.tasks[1].depends_on.append("zzz")
    mission.tasks[0].expectations.clear()
    mission.data["k"].append(3)  # type: ignore[index]
    assert copy.tasks[1].depends_on == ["a"]
    assert len(copy.tasks[0].expectations) == 2
    assert copy.data == {"k": [1, 2.5, None, "x"]}


def test_a_value_assigned_after_the_mission_was_built_is_checked():
    mission = _rich()
    mission.tasks[0].max_retries = "3"  # type: ignore[assignment]
    with pytest.raises(SpecError) as err:
        validated_copy(Mission, mission)
    assert err.value.errors[0]["loc"] == ["tasks", 0, "maxRetries"]


def test_a_task_appended_with_an_unknown_dependency_is_refused_by_the_graph_check():
    mission = _rich()
    mission.tasks.append(Task(title="c", assign_to="w", depends_on=["nope"]))
    with pytest.raises(SpecError) as err:
        validated_copy(Mission, mission)
    assert "nope" in str(err.value)


def test_a_value_json_cannot_hold_is_a_spec_error_naming_its_field():
    mission = _rich()
    mission.tasks[1].description = object()  # type: ignore[assignment]
    with pytest.raises(SpecError) as err:
        validated_copy(Mission, mission)
    assert err.value.errors[0]["loc"] == ["tasks", 1, "description"]


def test_a_non_finite_number_assigned_later_is_refused():
    mission = _rich()
    mission.quality_threshold = float("nan")
    with pytest.raises(SpecError) as err:
        validated_copy(Mission, mission)
    assert err.value.errors[0]["loc"] == ["qualityThreshold"]


def test_data_and_other_models_are_parsed_as_given():
    assert validated_copy(Task, {"title": "t", "assignTo": "w"}) == Task(title="t", assign_to="w")
    with pytest.raises(SpecError):
        validated_copy(Mission, Task(title="t", assign_to="w"))


def test_save_and_execute_refuse_a_mission_changed_into_an_invalid_one(tmp_path):
    project = polpo.Project(tmp_path)
    try:
        project.agent("w")(lambda task, ctx: "ok")
        project.agent("v")(lambda task, ctx: "ok")
        mission = polpo.Mission("changed").task("a", assign_to="w").task("b", assign_to="w", depends_on=["a"])
        mission.tasks[1].depends_on.append("ghost")
        with pytest.raises(SpecError, match="ghost"):
            project.save_mission(mission)
        with pytest.raises(SpecError, match="ghost"):
            project.execute(mission)
        assert [m.name for m in project.list_missions()] == []
        mission.tasks[1].depends_on.remove("ghost")
        record = project.execute(mission).wait(timeout=30)
        mission.tasks[0].title = "renamed after execute"
        assert [t.title for t in record.tasks] == ["a", "b"]
        assert [t.title for t in project.get_mission("changed").tasks] == ["a", "b"]
    finally:
        project.close()
