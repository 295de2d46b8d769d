"""The pydantic models: seed JSON round-trips, and invalid specs are refused naming the field."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
from support import shares_keys

import polpo_nb as polpo
from polpo_nb.errors import NotFoundError, SpecError
from polpo_nb.spec import (
    FileExistsExpectation,
    LlmReviewExpectation,
    MetricsExpectation,
    Mission,
    MissionRecord,
    ScriptExpectation,
    Task,
    TaskRecord,
    TaskResult,
    TaskStatus,
    TestExpectation,
    parse,
    share_keys,
)
from polpo_nb.spec.validation import STORED

SEED_DEPLOY_PIPELINE = {
    "name": "deploy-pipeline",
    "prompt": "Run the deployment pipeline for the backend service.",
    "qualityThreshold": 4.0,
    "tasks": [
        {
            "title": "Run tests",
            "description": "Execute the full test suite and report results.",
            "assignTo": "backend-dev",
            "maxRetries": 2,
            "expectations": [{"criterion": "All tests pass"}, {"criterion": "Code coverage above 80%"}],
        },
        {
            "title": "Deploy to staging",
            "description": "Deploy the latest build to the staging environment.",
            "assignTo": "deploy-agent",
            "dependsOn": ["Run tests"],
            "sideEffects": True,
        },
    ],
    "team": {
        "name": "deploy-crew",
        "volatile": True,
        "agents": [
            {"name": "backend-dev", "role": "Run tests and validate build", "model": "anthropic/claude-sonnet-4-5"},
            {"name": "deploy-agent", "role": "Deploy services to staging and production", "model": "anthropic/claude-sonnet-4-5"},
        ],
    },
    "qualityGates": [
        {"afterTasks": ["Run tests"], "blocksTasks": ["Deploy to staging"], "minScore": 4.0, "requireAllPassed": True}
    ],
}


def _errors(data: dict) -> list[dict]:
    with pytest.raises(SpecError) as info:
        parse(Mission, data)
    return info.value.errors


def _mission(**changes) -> dict:
    return json.loads(json.dumps({**SEED_DEPLOY_PIPELINE, **changes}))


def test_seed_deploy_pipeline_validates_unchanged():
    mission = Mission.model_validate(SEED_DEPLOY_PIPELINE)
    assert mission.quality_threshold == 4.0
    assert mission.tasks[1].depends_on == ["Run tests"]
    assert mission.quality_gates[0].require_all_passed is True
    wire = mission.to_wire()
    assert set(SEED_DEPLOY_PIPELINE) <= set(wire)
    assert wire["tasks"][0]["assignTo"] == "backend-dev"
    assert wire["team"]["agents"][0]["model"] == "anthropic/claude-sonnet-4-5"
    assert Mission.model_validate(wire) == mission


def test_unknown_dependency_names_the_field():
    data = _mission()
    data["tasks"][1]["dependsOn"] = ["Build"]
    [err] = _errors(data)
    assert err["loc"] == ["tasks", 1, "dependsOn", 0]
    assert "Build" in err["msg"]


def test_dependency_cycle_is_named():
    data = _mission()
    data["tasks"][0]["dependsOn"] = ["Deploy to staging"]
    [err] = _errors(data)
    assert err["loc"] == ["tasks"]
    assert "Run tests -> Deploy to staging -> Run tests" in err["msg"] or "Deploy to staging -> Run tests -> Deploy to staging" in err["msg"]


def test_self_dependency_is_named():
    data = _mission()
    data["tasks"][0]["dependsOn"] = ["Run tests"]
    assert _errors(data)[0]["msg"] == "task 'Run tests' depends on itself"


def test_tasks_listed_after_their_dependents_are_a_graph_as_any_other(monkeypatch):
    """Dependencies on earlier tasks only cannot close a cycle, so such a list skips the cycle search;
    a list in any other order is searched: accepted without a cycle, refused with one, named."""
    import polpo_nb.spec.mission as mission_module

    searched: list[list[str]] = []
    real = mission_module.find_cycle
    monkeypatch.setattr(mission_module, "find_cycle", lambda deps: searched.append(list(deps)) or real(deps))

    def mission(*tasks: tuple[str, list[str]]) -> Mission:
        return parse(Mission, {"name": "m", "tasks": [{"title": t, "assignTo": "w", "dependsOn": d} for t, d in tasks]})

    assert mission(("a", []), ("b", ["a"]), ("c", ["a", "b"])).tasks[2].depends_on == ["a", "b"]
    assert searched == []
    assert [t.title for t in mission(("b", ["a"]), ("a", []), ("c", ["b"])).tasks] == ["b", "a", "c"]
    assert searched == [["b", "a", "c"]]
    with pytest.raises(SpecError, match="dependency cycle: (a -> b -> a|b -> a -> b)"):
        mission(("b", ["a"]), ("a", ["b"]))
    with pytest.raises(SpecError, match="task .a. depends on itself"):
        mission(("a", ["a"]))
    assert len(searched) == 2  # a self-dependency is the task's own error: no search


def test_unknown_agent_of_declared_team_is_refused():
    data = _mission()
    data["tasks"][0]["assignTo"] = "ghost"
    [err] = _errors(data)
    assert err["loc"] == ["tasks", 0, "assignTo"]
    assert "ghost" in err["msg"]


def test_duplicate_task_titles_are_refused():
    data = _mission()
    data["tasks"][1]["title"] = "Run tests"
    data["tasks"][1]["dependsOn"] = []
    data["qualityGates"] = []
    errors = _errors(data)
    assert any(e["loc"] == ["tasks", 1, "title"] and "duplicate" in e["msg"] for e in errors)


def test_gate_and_checkpoint_naming_missing_tasks_are_refused():
    data = _mission(checkpoints=[{"name": "review", "afterTasks": ["Nope"]}])
    data["qualityGates"][0]["blocksTasks"] = ["Missing"]
    locs = [e["loc"] for e in _errors(data)]
    assert ["qualityGates", 0, "blocksTasks", 0] in locs


def _held(gates=(), delays=()) -> dict:
    return {"name": "m", "tasks": [{"title": "A", "assignTo": "w"}, {"title": "B", "assignTo": "w", "dependsOn": ["A"]},
                                   {"title": "C", "assignTo": "w"}],
            "qualityGates": list(gates), "delays": list(delays)}


@pytest.mark.parametrize("data,loc,cycle", [
    # a gate holding back its own afterTasks task: the gate waits for A, A waits for the gate
    (_held(gates=[{"name": "g", "afterTasks": ["A"], "blocksTasks": ["A"]}]), ["qualityGates", 0, "blocksTasks", 0], "A -> A"),
    # ... or a task its afterTasks depend on
    (_held(gates=[{"name": "g", "afterTasks": ["B"], "blocksTasks": ["A"]}]), ["qualityGates", 0, "blocksTasks", 0],
     "A -> B -> A"),
    # two holds that wait on each other
    (_held(gates=[{"name": "g", "afterTasks": ["A"], "blocksTasks": ["C"]}],
           delays=[{"name": "d", "afterTasks": ["C"], "blocksTasks": ["A"], "duration": "PT1S"}]),
     ["delays", 0, "blocksTasks", 0], "A -> C -> A"),
])
def test_a_hold_that_waits_on_the_tasks_it_holds_back_is_a_cycle(data, loc, cycle):
    """Accepted before, such a mission stayed active for ever with its tasks pending."""
    [err] = _errors(data)
    assert err["loc"] == loc and err["msg"].endswith(f"dependency cycle through quality gates or delays: {cycle}")


def test_holds_that_wait_on_other_tasks_are_no_cycle():
    mission = parse(Mission, _held(gates=[{"name": "g", "afterTasks": ["A"], "blocksTasks": ["B", "C"]}],
                                   delays=[{"name": "d", "afterTasks": ["B"], "blocksTasks": ["C"], "duration": "PT1S"}]))
    assert [g.blocks_tasks for g in mission.quality_gates] == [["B", "C"]]


def test_checkpoint_naming_missing_task_is_refused():
    data = _mission(checkpoints=[{"name": "review", "afterTasks": ["Nope"]}])
    [err] = _errors(data)
    assert err["loc"] == ["checkpoints", 0, "afterTasks", 0]


@pytest.mark.parametrize("field,value", [("qualityThreshold", 0), ("qualityThreshold", 5.5)])
def test_scores_outside_one_to_five_are_refused(field, value):
    [err] = _errors(_mission(**{field: value}))
    assert err["loc"] == [field]


def test_gate_min_score_outside_range_is_refused():
    data = _mission()
    data["qualityGates"][0]["minScore"] = 9
    [err] = _errors(data)
    assert err["loc"] == ["qualityGates", 0, "minScore"]


def test_schedule_must_be_cron_or_iso():
    assert parse(Mission, {"name": "m", "schedule": "0 9 * * 1"}).schedule == "0 9 * * 1"
    assert parse(Mission, {"name": "m", "schedule": "2026-12-01T09:00:00Z"}).schedule
    [err] = _errors({"name": "m", "schedule": "every tuesday"})
    assert err["loc"] == ["schedule"]


def test_every_expectation_form_parses():
    task = parse(polpo.Task, {
        "title": "t", "assignTo": "a",
        "expectations": [
            "plain string is a criterion",
            {"criterion": "c"},
            {"type": "test", "command": "pytest -q"},
            {"type": "file_exists", "paths": ["a.txt"]},
            {"type": "script", "script": "exit 0"},
            {"type": "metrics", "command": "echo 0.9", "threshold": 0.8},
            {"type": "llm_review", "criterion": "r", "dimensions": [{"name": "clarity", "weight": 2, "rubric": "x"}]},
        ],
    })
    kinds = [type(e) for e in task.expectations]
    assert kinds[2:] == [TestExpectation, FileExistsExpectation, ScriptExpectation, MetricsExpectation, LlmReviewExpectation]
    assert task.expectations[0].criterion == "plain string is a criterion"


def test_unknown_expectation_type_is_refused():
    with pytest.raises(SpecError) as info:
        parse(polpo.Task, {"title": "t", "assignTo": "a", "expectations": [{"type": "vibes"}]})
    assert info.value.errors[0]["loc"][0] == "expectations"


def test_llm_review_dimensions_with_one_name_twice_are_refused():
    """The judge scores each dimension by name: two of one name would be scored once, with one weight."""
    review = {"type": "llm_review", "criterion": "r",
              "dimensions": [{"name": "clarity", "weight": 2}, {"name": "depth"}, {"name": " clarity", "weight": 1}]}
    with pytest.raises(SpecError) as info:
        parse(polpo.Task, {"title": "t", "assignTo": "a", "expectations": [review]})
    assert info.value.errors[0]["loc"] == ["expectations", 0, "dimensions", 2, "name"]
    assert "clarity" in info.value.errors[0]["msg"] and "twice" in info.value.errors[0]["msg"]


def test_builder_accepts_forward_references():
    mission = polpo.Mission("m").task("a", assign_to="w", depends_on=["b"]).task("b", assign_to="w")
    assert mission.validate() is mission
    assert mission.tasks[0].depends_on == ["b"]


def test_builder_reports_an_unknown_task_as_unknown_when_complete():
    mission = polpo.Mission("m").task("a", assign_to="w").task("b", assign_to="w", depends_on=["zzz"])
    with pytest.raises(SpecError) as info:
        mission.validate()
    assert info.value.errors == [{"loc": ["tasks", 1, "dependsOn", 0], "msg": "unknown task 'zzz'"}]


def test_builder_reports_a_cycle_as_a_cycle_naming_it():
    mission = polpo.Mission("m").task("a", assign_to="w", depends_on=["b"]).task("b", assign_to="w", depends_on=["a"])
    with pytest.raises(SpecError) as info:
        mission.validate()
    [err] = info.value.errors
    assert err["loc"] == ["tasks"]
    assert err["msg"] in ("dependency cycle: a -> b -> a", "dependency cycle: b -> a -> b")


def test_builder_gate_and_team_may_come_before_what_they_name():
    mission = (polpo.Mission("m").gate(after=["a"], blocks=["b"]).task("a", assign_to="w")
               .task("b", assign_to="late", depends_on=["a"])
               .agent(polpo.Agent(name="w")).agent(polpo.Agent(name="late")))
    assert mission.validate().quality_gates[0].blocks_tasks == ["b"]


def test_builder_still_refuses_a_duplicate_title_at_once():
    mission = polpo.Mission("m").task("a", assign_to="w")
    with pytest.raises(SpecError) as info:
        mission.task("a", assign_to="w")
    assert info.value.errors[0]["loc"] == ["tasks", 1, "title"]
    assert [t.title for t in mission.tasks] == ["a"]


def test_executing_an_incomplete_mission_reports_the_unknown_task_and_writes_nothing(project):
    mission = polpo.Mission("m").task("a", assign_to="w", depends_on=["ghost"])
    with pytest.raises(SpecError, match="tasks.0.dependsOn.0: unknown task 'ghost'"):
        project.execute(mission)
    assert project.list_missions() == []


def test_dumping_validates_first(tmp_path: Path):
    mission = polpo.Mission("m").task("a", assign_to="w", depends_on=["b"]).task("b", assign_to="w", depends_on=["a"])
    with pytest.raises(SpecError, match="dependency cycle"):
        mission.dump(tmp_path / "m.yaml")
    assert not list(tmp_path.iterdir())


def test_mission_constructor_raises_spec_error_naming_field_and_range():
    with pytest.raises(SpecError) as info:
        polpo.Mission("m", quality_threshold=9)
    assert info.value.errors == [{"loc": ["quality_threshold"], "msg": "must be from 1 to 5, not 9"}]


def test_range_errors_name_the_whole_range_in_files_too():
    data = _mission()
    data["tasks"][0]["maxRetries"] = 1000
    [err] = _errors(data)
    assert err == {"loc": ["tasks", 0, "maxRetries"], "msg": "must be from 0 to 100, not 1000"}


def test_unknown_expectation_type_lists_the_types():
    with pytest.raises(SpecError) as info:
        polpo.Mission("m").task("a", assign_to="w", expectations=[{"type": "nope"}])
    [err] = info.value.errors
    assert err["loc"] == ["tasks", 0, "expectations", 0]
    assert err["msg"].startswith("unknown type 'nope'; the types are ")
    assert all(kind in err["msg"] for kind in ("'criterion'", "'test'", "'script'", "'metrics'", "'file_exists'"))
    assert "_expectation_kind" not in err["msg"]


def test_errors_inside_a_typed_expectation_name_its_keys_not_its_tag():
    [err] = parse_errors(polpo.Task, {"title": "t", "assignTo": "a", "expectations": [{"type": "test"}]})
    assert err["loc"] == ["expectations", 0, "command"]


def parse_errors(model, data) -> list[dict]:
    with pytest.raises(SpecError) as info:
        parse(model, data)
    return info.value.errors


def test_builder_chains_tasks_gates_and_checkpoints():
    mission = (
        polpo.Mission("m", prompt="p", quality_threshold=3.5)
        .task("a", "do a", assign_to="w", expectations=["good"])
        .task("b", assign_to="w", depends_on=["a"], side_effects=True, priority=5)
        .gate(after=["a"], blocks=["b"], min_score=4)
        .checkpoint("look", after=["a"], message="check a")
    )
    wire = mission.to_wire()
    assert wire["qualityGates"] == [{"afterTasks": ["a"], "blocksTasks": ["b"], "minScore": 4.0, "requireAllPassed": False}]
    assert wire["checkpoints"] == [{"name": "look", "afterTasks": ["a"], "message": "check a"}]
    assert wire["tasks"][1]["priority"] == 5


def test_builder_gate_on_unknown_task_is_refused_when_complete():
    with pytest.raises(SpecError) as info:
        polpo.Mission("m").task("a", assign_to="w").gate(after=["a"], blocks=["nope"]).validate()
    assert info.value.errors[0]["loc"] == ["qualityGates", 0, "blocksTasks", 0]


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_mission_files_round_trip(tmp_path: Path, suffix: str):
    mission = Mission.model_validate(SEED_DEPLOY_PIPELINE)
    path = tmp_path / f"m{suffix}"
    mission.dump(path)
    assert Mission.load(path) == mission
    if suffix == ".yaml":
        assert "assignTo: backend-dev" in path.read_text()


def test_invalid_mission_file_names_the_problem(tmp_path: Path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: m\ntasks:\n  - title: a\n    assignTo: w\n    dependsOn: [ghost]\n")
    with pytest.raises(SpecError) as info:
        polpo.load_mission(path)
    assert info.value.errors[0]["loc"] == ["tasks", 0, "dependsOn", 0]


def test_unknown_key_in_a_mission_file_is_named_with_a_suggestion(tmp_path: Path):
    path = tmp_path / "m.yaml"
    path.write_text("name: m\ntasks:\n  - title: a\n    assignTo: w\n  - title: b\n    assignTo: w\n"
                    "    dependson: [a]\nqualityTreshold: 4\n")
    with pytest.raises(SpecError) as info:
        polpo.load_mission(path)
    assert info.value.errors == [
        {"loc": ["tasks", 1, "dependson"], "msg": "unknown key 'dependson' (did you mean 'dependsOn'?)"},
        {"loc": ["qualityTreshold"], "msg": "unknown key 'qualityTreshold' (did you mean 'qualityThreshold'?)"},
    ]


def test_unknown_key_far_from_any_lists_the_keys_of_that_place():
    [err] = parse_errors(polpo.Mission, {"name": "m", "team": {"agents": [{"name": "w", "zzzzzz": 1}]}})
    assert err["loc"] == ["team", "agents", 0, "zzzzzz"]
    assert err["msg"].startswith("unknown key 'zzzzzz'; the keys here are: ")
    assert "systemPrompt" in err["msg"] and "handler" in err["msg"]


def test_snake_case_keys_are_accepted_in_files(tmp_path: Path):
    path = tmp_path / "m.yaml"
    path.write_text("name: m\nquality_threshold: 4\ntasks:\n  - title: a\n    assign_to: w\n"
                    "  - title: b\n    assign_to: w\n    depends_on: [a]\n    max_retries: 1\n")
    mission = polpo.load_mission(path)
    assert mission.quality_threshold == 4
    assert mission.tasks[1].depends_on == ["a"] and mission.tasks[1].max_retries == 1


@pytest.mark.parametrize(("name", "text", "message"), [
    # a second `tasks:` block (pasted below the first): the first block's tasks were dropped, silently
    ("m.yaml", "name: m\ntasks:\n  - title: a\n    assignTo: w\ntasks:\n  - title: b\n    assignTo: w\n",
     "duplicate key 'tasks' at line 5 (first at line 2)"),
    ("m.yaml", "name: m\ntasks:\n  - title: a\n    assignTo: w\n    assignTo: v\n",
     "duplicate key 'assignTo' at line 5 (first at line 4)"),
    ("m.yaml", "name: m\ntasks: [{title: a, assignTo: w, title: b}]\n",  # one line: told apart all the same
     "duplicate key 'title' at line 2 (first at line 2)"),
    ("m.json", '{"name": "m", "tasks": [{"title": "a", "assignTo": "w", "title": "b"}]}',
     "duplicate key 'title' in one object"),
])
def test_a_key_given_twice_in_a_mission_file_is_refused_not_overwritten(tmp_path: Path, name: str, text: str,
                                                                         message: str):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        polpo.load_mission(path)
    assert info.value.errors == [{"loc": [str(path)], "msg": message}]


def test_yaml_merge_keys_still_override_what_they_merge(tmp_path: Path):
    path = tmp_path / "m.yaml"
    path.write_text("name: m\ntasks:\n  - &base {title: a, assignTo: w, maxRetries: 1}\n"
                    "  - <<: *base\n    title: b\n    maxRetries: 2\n")
    assert [(t.title, t.max_retries) for t in polpo.load_mission(path).tasks] == [("a", 1), ("b", 2)]


@pytest.mark.parametrize("name,body,message", [
    ("latin1.yaml", b"name: caf\xe9\ntasks: []\n", "not UTF-8 text (byte 0xe9 at 9)"),
    ("deep.json", b'{"name": "a", "data": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nested too deeply to read"),
    ("deep.yaml", b"name: a\ndata: " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested too deeply to read"),
])
def test_a_mission_file_that_cannot_be_read_is_an_invalid_file(tmp_path: Path, name: str, body: bytes, message: str):
    """Not an "unexpected error" (`UnicodeDecodeError`, `RecursionError`): `SpecError`, exit 2 in the CLI."""
    path = tmp_path / name
    path.write_bytes(body)
    with pytest.raises(SpecError) as info:
        polpo.load_mission(path)
    assert info.value.errors == [{"loc": [str(path)], "msg": message}]


def test_a_missing_mission_file_is_not_found(tmp_path: Path):
    with pytest.raises(NotFoundError, match="No such mission file: .*nosuch.yaml"):
        polpo.load_mission(tmp_path / "nosuch.yaml")


@pytest.mark.parametrize("changes", [
    {"status": TaskStatus.PENDING},  # a field the record was not given: the set of given fields grows
    {"updated_at": "2026-01-01T00:00:00.000Z", "retries": 2},  # given already: the set is shared
    {"result": None, "phase": None},
])
def test_evolve_is_model_copy(changes):
    """The engine's copy per transition (`WireModel.evolve`) must mean what pydantic's `model_copy(update=)`
    means: the same values, the same serialisation, the same given fields, and the parent unchanged."""
    parent = TaskRecord(id="task_1", title="t", assign_to="w", depends_on=["a"], updated_at="x",
                        result=TaskResult(content="ok"))
    before = parent.model_dump_json()
    ours, theirs = parent.evolve(**changes), parent.model_copy(update=changes)
    assert ours == theirs
    assert ours.model_dump_json(by_alias=True, exclude_none=True) == theirs.model_dump_json(by_alias=True, exclude_none=True)
    assert ours.model_fields_set == theirs.model_fields_set
    assert ours.model_dump(exclude_unset=True) == theirs.model_dump(exclude_unset=True)
    assert parent.model_dump_json() == before and type(ours) is TaskRecord
    ours.title, ours.feedback = "changed", "new"  # a copy is its own: changing it leaves the parent as it was
    assert parent.title == "t" and parent.feedback is None and "feedback" not in parent.model_fields_set


@pytest.mark.parametrize("fields", [
    {"id": "task_1"},  # the record's own fields left to their defaults
    {"id": "task_1", "mission_id": "msn_1", "group": "m", "seq": 7, "created_at": "x", "updated_at": "x"},
    {"id": "task_1", "status": TaskStatus.PENDING, "title": "renamed"},  # a spec field given again wins
])
def test_extending_is_the_validated_construction(fields):
    """A saved mission's records are made from its validated tasks (`WireModel.extending`) without
    validating them again: they must be what `TaskRecord(**task.model_dump(), ...)` makes, in values,
    serialisation and given fields; a required field of the record's own is still required."""
    task = polpo.Task(title="t", assign_to="w", depends_on=["a", "b"], expectations=["clear"], priority=2.5,
                      retry_policy={"fallbackAgent": "v"})
    ours, theirs = TaskRecord.extending(task, **fields), TaskRecord(**{**task.model_dump(), **fields})
    assert ours == theirs and type(ours) is TaskRecord
    assert ours.model_dump_json(by_alias=True, exclude_none=True) == theirs.model_dump_json(by_alias=True, exclude_none=True)
    assert ours.model_dump_json() == theirs.model_dump_json()
    assert ours.model_fields_set == theirs.model_fields_set
    given = set(task.model_fields_set)
    ours.feedback = "new"  # a record is its own: its given fields grow, the task's are left as they were
    assert "feedback" in ours.model_fields_set and task.model_fields_set == given
    task.depends_on.append("c")  # and so are its lists: the spec edited afterwards leaves it as it was
    assert ours.depends_on == ["a", "b"]
    with pytest.raises(TypeError, match="id is required"):
        TaskRecord.extending(task)


def test_records_share_their_given_fields_until_one_is_assigned_to():
    """The engine's records share one set of given fields per distinct content (a set per record cost
    ~1 KB each and a collector visit): assigning a field of one record, which makes pydantic add to its
    set, gives that record its own set and leaves every other record's as it was; pydantic's own copies
    are their own too."""
    task = polpo.Task(title="t", assign_to="w")
    first, second = (TaskRecord.extending(task, id=f"task_{i}", seq=i) for i in (1, 2))
    assert first.__pydantic_fields_set__ is second.__pydantic_fields_set__
    done = [r.evolve(status=TaskStatus.DONE, result=TaskResult(content="ok")) for r in (first, second)]
    assert done[0].__pydantic_fields_set__ is done[1].__pydantic_fields_set__
    assert "result" in done[0].model_fields_set and "result" not in first.model_fields_set
    given = set(second.model_fields_set)
    first.feedback = "only mine"
    assert "feedback" in first.model_fields_set
    assert second.model_fields_set == given and "feedback" not in done[1].model_fields_set
    assert second.model_dump(exclude_unset=True) == TaskRecord.extending(task, id="task_2", seq=2).model_dump(exclude_unset=True)
    copied = done[1].model_copy(update={"feedback": "copied"})
    assert "feedback" in copied.model_fields_set and "feedback" not in done[0].model_fields_set
    unpickled = pickle.loads(pickle.dumps(done[0]))  # (a record sent to a Dask worker)
    unpickled.feedback = "there"
    assert unpickled.result == done[0].result and "feedback" not in done[0].model_fields_set
    loaded = TaskRecord.model_validate_json(done[0].model_dump_json(by_alias=True, exclude_none=True))  # as stored
    again = loaded.evolve(retries=1)
    again.phase = None
    assert "phase" not in loaded.model_fields_set and "phase" in again.model_fields_set


@pytest.mark.parametrize("change", [
    lambda s: s.add("feedback"), lambda s: s.discard("title"), lambda s: s.remove("title"), lambda s: s.clear(),
    lambda s: s.pop(), lambda s: s.update({"feedback"}), lambda s: s.difference_update({"title"}),
    lambda s: s.intersection_update(set()), lambda s: s.symmetric_difference_update({"feedback"}),
    lambda s: s.__ior__({"feedback"}), lambda s: s.__iand__(set()), lambda s: s.__isub__({"title"}),
    lambda s: s.__ixor__({"feedback"}),
])
def test_a_shared_set_of_given_fields_refuses_to_be_changed_in_place(change):
    """`record.model_fields_set` of a record whose set is shared: changing it in place would change
    every record sharing it, so it is refused, loudly; a copy is the caller's to change."""
    task = polpo.Task(title="t", assign_to="w")
    first, second = (TaskRecord.extending(task, id=f"task_{i}", seq=i) for i in (1, 2))
    given = set(second.model_fields_set)
    with pytest.raises(TypeError, match="shared by other records"):
        change(first.model_fields_set)
    assert first.model_fields_set == given and second.model_fields_set == given
    mine = set(first.model_fields_set)
    change(mine)  # a plain copy changes as a set does
    assert second.model_fields_set == given


def test_validated_models_can_be_made_to_share_their_given_fields():
    """A mission's validated tasks share one set per content once saved (`share_given_fields`), and
    stay each their own when changed."""
    from polpo_nb.spec import share_given_fields

    mission = polpo.Mission("m").task("a", assign_to="w").task("b", assign_to="w", depends_on=["a"])
    first, second = mission.tasks
    plain = polpo.Task(title="c", assign_to="w")
    given = [set(t.model_fields_set) for t in (first, second, plain)]
    share_given_fields([first, second, plain])
    assert first.__pydantic_fields_set__ is second.__pydantic_fields_set__
    assert [t.model_fields_set for t in (first, second, plain)] == given
    plain.notebook = "n.ipynb"
    assert "notebook" in plain.model_fields_set and "notebook" not in first.model_fields_set
    first.notebook = "m.ipynb"
    assert "notebook" in first.model_fields_set and "notebook" not in second.model_fields_set


def test_a_missions_tasks_share_their_given_fields_from_the_start():
    """Built with the builder or validated whole, a mission's tasks given the same fields hold one set
    (the user's mission lives as long as its run: a set per task was 216 bytes and a collector visit),
    and a change to one task is its own."""
    built = polpo.Mission("m").task("a", assign_to="w").task("b", assign_to="w")
    validated = Mission.model_validate({"name": "m", "tasks": [{"title": "a", "assignTo": "w"},
                                                               {"title": "b", "assignTo": "w"}]})
    for mission in (built, validated):
        first, second = mission.tasks
        assert first.__pydantic_fields_set__ is second.__pydantic_fields_set__
        first.notebook = "n.ipynb"
        assert "notebook" in first.model_fields_set and "notebook" not in second.model_fields_set


def test_adopting_is_extending_with_the_specs_own_lists():
    """A spec parsed for one save gives its lists to its record (`adopting`) instead of copies: the same
    record in every other respect."""
    task = polpo.Task(title="t", assign_to="w", depends_on=["a"], expectations=["clear"])
    fields = {"id": "task_1", "seq": 3, "status": TaskStatus.PENDING}
    adopted, extended = TaskRecord.adopting(task, **fields), TaskRecord.extending(task, **fields)
    assert adopted == extended and adopted.model_fields_set == extended.model_fields_set
    assert adopted.depends_on is task.depends_on and extended.depends_on is not task.depends_on


def test_records_hold_key_sharing_dicts_whatever_the_process_did_before():
    """A run holds one record per task for its life: made by `extending`/`adopting` and copied by `evolve`,
    its `__dict__` shares one key table with the others (a split dict: ~300 bytes, not the ~830 of a dict
    of its own), even after an attribute of some record was deleted, which makes CPython give up the key
    sharing of a class for good. Its values and their order are the validated record's. A record read
    from the store (its own table) is laid out the same way by `share_keys`, in place, nothing else changed."""
    task = polpo.Task(title="t", assign_to="w", depends_on=["a"])
    victim = TaskRecord.extending(task, id="task_0")
    del victim.__dict__["feedback"]  # what turns CPython's own sharing for TaskRecord off
    records = [TaskRecord.adopting(polpo.Task(title=f"t{i}", assign_to="w"), id=f"task_{i}", seq=i) for i in range(3)]
    records += [records[0].evolve(status=TaskStatus.DONE, result=TaskResult(content="ok")),
                TaskRecord.extending(task, id="task_9")]
    assert all(shares_keys(record) for record in records)
    validated = TaskRecord(**{**task.model_dump(), "id": "task_9"})
    assert list(records[-1].__dict__) == list(validated.__dict__) == list(TaskRecord.model_fields)
    assert repr(records[-1]) == repr(validated) and records[-1] == validated
    records[1].title = "changed"  # each record's values are its own
    assert [r.title for r in records[:3]] == ["t0", "changed", "t2"]
    as_read = TaskRecord.model_validate_json(validated.model_dump_json())  # a record read from the store
    before = (repr(as_read), as_read.model_dump_json(), as_read.model_fields_set)
    share_keys([as_read])  # laid out in place, as a run taking it up does
    assert shares_keys(as_read)
    assert (repr(as_read), as_read.model_dump_json(), as_read.model_fields_set) == before and as_read == validated


def test_a_task_that_depends_on_itself_is_refused_standalone_or_in_a_mission():
    """A standalone task run alone waited for itself for ever (pending, no event, a second execute 409)."""
    with pytest.raises(SpecError) as info:
        polpo.Task(title="T", assign_to="w", depends_on=["T"])
    assert info.value.errors == [{"loc": ["depends_on"], "msg": "task 'T' depends on itself"}]  # as spelled
    with pytest.raises(SpecError) as info:
        Mission(name="m", tasks=[{"title": "a", "assignTo": "w"}, {"title": "b", "assignTo": "w", "dependsOn": ["a", "b"]}])
    assert info.value.errors[0] == {"loc": ["tasks", 1, "dependsOn"], "msg": "task 'b' depends on itself"}


@pytest.mark.parametrize("name", ["   ", "two\nlines", "nul\x00", "bidi\u202eevil", "resumable"])
def test_a_mission_name_that_could_not_be_shown_or_fetched_is_refused(name):
    """Names are shown on one line (CLI, dashboard, events) and fetched by name: whitespace only, control
    characters, and `resumable` (the route `GET missions/resumable` lists resumable missions) are refused."""
    with pytest.raises(SpecError) as info:
        Mission(name=name, tasks=[{"title": "a", "assignTo": "w"}])
    assert info.value.errors[0]["loc"] == ["name"]
    assert Mission(name="Release notes: v2 (é)", tasks=[{"title": "a", "assignTo": "w"}]).name == "Release notes: v2 (é)"


@pytest.mark.parametrize(("data", "said"), [
    (float("inf"), "data is NaN or an infinity"), ({"x": [1, float("nan")]}, "data.x[1] is NaN or an infinity"),
    ({"deep": {"er": float("-inf")}}, "data.deep.er is NaN or an infinity"),
    (object(), "data holds a value JSON cannot carry"), ({"f": len}, "data holds a value JSON cannot carry")])
def test_mission_data_that_json_cannot_carry_is_refused_naming_where(data, said):
    """`data` is any JSON value, so pydantic's allow_inf_nan did not reach inside it: a mission saved with
    `1e999` (over /mcp, where no HTTP body parser stands first) was stored as `Infinity`, which broke every
    schedule look (SQLite's json functions refuse it) and every strict JSON reader of the lists."""
    with pytest.raises(SpecError) as info:
        Mission(name="m", data=data, tasks=[{"title": "a", "assignTo": "w"}])
    [error] = info.value.errors
    assert error["loc"] == ["data"] and error["msg"].startswith(said)


def test_the_store_refuses_a_document_json_cannot_carry_whatever_let_it_through(tmp_path):
    """The last guard: a record whose untyped field holds a non-finite number (built without validation)
    is refused at the write, naming where, and nothing is written."""
    from polpo_nb.spec import MissionRecord
    from polpo_nb.store.sqlite import Store

    store = Store(tmp_path / "state.db")
    record = MissionRecord(id="m1", name="m1", created_at="2026-01-01T00:00:00Z", updated_at="2026-01-01T00:00:00Z")
    with pytest.raises(SpecError) as info, store.write() as tx:
        tx.put_mission(record.model_copy(update={"data": {"rows": [1.0, float("inf")]}}))
    assert info.value.errors == [{"loc": ["data"], "msg": "data.rows[1] is NaN or an infinity, which JSON cannot carry: "
                                                          "use None or a string there"}]
    with store.read() as tx:
        assert tx.missions() == []
    store.close()


def test_storable_finds_a_non_finite_number_in_any_untyped_field():
    """For a model whose untyped field has no check of its own (the store's last guard)."""
    from typing import Any

    from pydantic import BaseModel

    from polpo_nb.store.docs import storable

    class Loose(BaseModel):
        name: str = "x"
        extra: Any = None

    assert storable(Loose, '{"name": "NaNa", "extra": [1, 2]}') == '{"name": "NaNa", "extra": [1, 2]}'
    with pytest.raises(SpecError) as info:
        storable(Loose, '{"name": "x", "extra": {"deep": [0, Infinity]}}')
    assert info.value.errors == [{"loc": ["extra", "deep", 1], "msg": "NaN or an infinity, which JSON cannot carry"}]


def test_a_mission_stored_with_a_hold_cycle_or_twin_checkpoints_stays_readable():
    """Stored before these were refused: read as it was saved, so it can be fixed or deleted."""
    data = {**_held(gates=[{"name": "g", "afterTasks": ["A"], "blocksTasks": ["A"]}]),
            "checkpoints": [{"name": "review", "afterTasks": ["A"]}, {"name": "review", "afterTasks": ["B"]}]}
    mission = Mission.model_validate(data, context=STORED)
    assert mission.quality_gates[0].blocks_tasks == ["A"] and [c.name for c in mission.checkpoints] == ["review"] * 2


@pytest.mark.parametrize("field,items", [
    ("checkpoints", [{"name": "review", "afterTasks": ["A"]}, {"name": "review", "afterTasks": ["B"]}]),
    ("delays", [{"name": "cool", "afterTasks": ["A"], "blocksTasks": ["B"], "duration": "PT1S"},
                {"name": "cool", "afterTasks": ["A"], "blocksTasks": ["C"], "duration": "PT1S"}]),
])
def test_checkpoints_or_delays_sharing_a_name_are_refused(field, items):
    """A run knows them by name: passing the first checkpoint passed the second, whose human review was
    skipped without a word."""
    [err] = _errors({**_held(), field: items})
    assert err["loc"] == [field, 1, "name"] and err["msg"] == f"duplicate {field[:-1]} name {items[0]['name']!r}"


@pytest.mark.parametrize("kind", ["file", "media"])
def test_a_file_or_media_outcome_without_a_path_is_refused_when_the_task_is_made(kind):
    """It was accepted, and every attempt of the task then failed its check ("has no `path`")."""
    with pytest.raises(SpecError) as info:
        polpo.Task(title="T", assign_to="w", expected_outcomes=[{"type": "text"}, {"type": kind}])
    assert info.value.errors == [{"loc": ["expected_outcomes", 1, "path"],  # as given (in Python)
                                  "msg": f"a {kind} outcome names the file the task must produce (`path`)"}]
    stored = TaskRecord.model_validate({"id": "task_1", "title": "T", "assignTo": "w", "seq": 1, "createdAt": "x",
                                        "updatedAt": "x", "expectedOutcomes": [{"type": kind}]}, context=STORED)
    assert stored.expected_outcomes[0].path is None  # stored by an earlier version: still read


@pytest.mark.parametrize("change", [{}, {"priority": 2}, {"expectations": ["it is right", "and short"]},
                                    {"dependsOn": []}, {"retryPolicy": {"escalateAfter": 1}}])
def test_a_task_record_has_the_spec_its_own_spec_equals(change):
    """`has_spec` is `record.spec == spec` without building the record's spec: the two agree for an
    unchanged task and for a change of any kind of field (scalar, nested model, list)."""
    wire = {"title": "a", "assignTo": "w", "dependsOn": ["b"], "expectations": ["it is right"],
            "retryPolicy": {"escalateAfter": 2}}
    record = TaskRecord.extending(Task.model_validate(wire), id="task-1", seq=1)
    spec = Task.model_validate({**wire, **change})
    assert record.has_spec(spec) is (record.spec == spec) is (not change)


def test_a_mission_record_s_spec_fields_are_its_spec_but_the_tasks():
    """`spec_fields` (a mission saved again with a new task list) is `spec`'s wire form without the
    tasks, for every kind of mission field: nested models, lists of them, dates, data."""
    wire = _mission(deadline="2027-01-01T00:00:00Z", schedule="0 9 * * 1", data={"k": [1, None]},
                    checkpoints=[{"name": "review", "afterTasks": ["Run tests"]}], budget={"maxCostUsd": 2})
    spec = parse(Mission, wire)
    tasks = [TaskRecord.extending(t, id=f"task-{i}", seq=i) for i, t in enumerate(spec.tasks)]
    record = MissionRecord.model_validate({**spec.model_dump(), "id": "mission-1", "tasks": tasks})
    whole = record.spec.model_dump(by_alias=True, exclude_none=True)
    assert len(whole.pop("tasks")) == 2
    assert record.spec_fields() == whole and whole["checkpoints"] and whole["team"]["agents"]
