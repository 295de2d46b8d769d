"""The event catalog: every published event is its catalog class, on the wire exactly as declared."""

from __future__ import annotations

import jsonschema
import pytest
from support import EventLog

import polpo_nb as polpo
from polpo_nb.events.catalog import (
    CATALOG,
    MemoryUpdated,
    TaskTransition,
    stream_event_schema,
    validate_event,
)
from polpo_nb.spec import MissionStatus
from polpo_server.openapi import build_openapi

WAIT = 30


def _check_all(log: EventLog) -> set[str]:
    """Each event validates against its class (no unknown key, no missing one) and comes back
    from it unchanged; returns the names seen."""
    for e in log.events:
        typed = validate_event(e.event, e.data)
        assert typed.event == e.event
        assert typed.to_wire() == e.data, e.event
    return {e.event for e in log.events}


def test_every_event_of_a_mission_life_is_its_catalog_class(project: polpo.Project, events: EventLog):
    calls: dict[str, int] = {}

    @project.agent("w")
    def work(task, ctx):
        calls[task.title] = calls.get(task.title, 0) + 1
        ctx.output(f"working on {task.title}")
        if task.title == "flaky" and calls[task.title] == 1:
            raise RuntimeError("first try fails")
        return "ok"

    scores = iter([2.0, 4.5, 4.5, 4.5, 4.5, 4.5])
    project.judge(lambda e, t, r: next(scores, 4.5))
    mission = (polpo.Mission("life").task("flaky", assign_to="w", max_retries=2, expectations=["good"])
               .task("deploy", assign_to="w", side_effects=True, depends_on=["flaky"])
               .task("ship", assign_to="w", depends_on=["deploy"])
               .task("after", assign_to="w", depends_on=["ship"])
               .gate(after=["flaky"], blocks=["ship"], min_score=4.0)
               .checkpoint("look", after=["ship"])
               .delay("settle", after=["ship"], blocks=["after"], duration="PT0.05S"))
    run = project.execute(mission)
    record = run.wait(WAIT)
    deploy = next(t for t in record.tasks if t.title == "deploy")
    project.approve_task(deploy.id, "fine")
    record = run.wait(WAIT)
    assert record.status == MissionStatus.PAUSED and record.pause_reason == "checkpoint"
    project.resume("life")
    assert run.wait(WAIT).status == MissionStatus.COMPLETED
    other = project.execute(polpo.Mission("other").task("a", assign_to="w", side_effects=True))
    other.wait(WAIT)
    project.abort("other")
    project.put_memory("remember this")
    project.rename_team("crew")
    project.add_agent({"name": "helper", "role": "helps"})
    project.remove_agent("helper")
    names = _check_all(events)
    assert {"task:transition", "task:retry", "task:fix", "task:output", "agent:spawned", "agent:completed",
            "assessment:started", "assessment:completed", "approval:requested", "approval:resolved",
            "gate:passed", "checkpoint:waiting", "checkpoint:resumed", "delay:started", "delay:elapsed",
            "mission:executed", "mission:status", "mission:resumed", "mission:completed", "mission:aborted",
            "task:completed", "memory:updated", "team:renamed", "agent:added", "agent:removed"} <= names
    kinds = {d["kind"] for d in events.of("approval:requested")}
    assert kinds == {"task", "checkpoint"}
    assert events.of("checkpoint:waiting")[0]["message"] == ""  # always on the wire, empty included


def test_a_field_defaulting_to_none_is_left_out_while_none():
    plain = TaskTransition(task_id="t", mission_id=None, title="a", from_="pending", to="assigned", agent_name="w")
    assert plain.to_wire() == {"taskId": "t", "missionId": None, "title": "a", "from": "pending", "to": "assigned",
                               "agentName": "w"}
    why = TaskTransition(task_id="t", mission_id="m", title="a", from_="failed", to="pending", agent_name="w",
                         reason="retry", timestamp="2026-01-01T00:00:00Z")
    assert list(why.to_wire())[-2:] == ["reason", "timestamp"]


def test_the_journal_takes_catalog_events_only(project: polpo.Project):
    journal = project.aio.journal
    with pytest.raises(TypeError, match="emit\\(\\) takes an event of polpo_nb.events.catalog"):
        journal.emit({"length": 3})  # type: ignore[arg-type]

    async def raw_write() -> None:
        await journal.write(lambda tx, emit: emit({"taskId": "x"}))
    with pytest.raises(TypeError, match="not dict"):
        project._thread.call(raw_write())
    assert project._thread.call(_emit_one(project)).event == "memory:updated"


async def _emit_one(project: polpo.Project):
    return await project.aio.journal.emit(MemoryUpdated(length=3))


def test_an_unknown_or_malformed_payload_does_not_validate():
    with pytest.raises(ValueError, match="not an event of the catalog"):
        validate_event("task:teleported", {})
    with pytest.raises(ValueError):
        validate_event("memory:updated", {"length": 3, "extra": True, "timestamp": "t"})


def test_the_stream_schema_is_a_union_discriminated_by_event_name():
    schema = stream_event_schema("#/components/schemas/{model}")
    mapping = schema["discriminator"]["mapping"]
    assert schema["discriminator"]["propertyName"] == "event"
    assert set(mapping) == set(CATALOG)
    member = schema["$defs"][mapping["task:transition"].rsplit("/", 1)[1]]
    payload = schema["$defs"][member["properties"]["data"]["$ref"].rsplit("/", 1)[1]]
    assert {"taskId", "from", "to", "timestamp"} <= set(payload["required"])
    assert "reason" not in payload["required"]
    assert member["required"] == ["event", "data"]  # `id` is the SSE `id:` line, in WebSocket messages only
    approvals = schema["$defs"][mapping["approval:requested"].rsplit("/", 1)[1]]["properties"]["data"]
    assert approvals["discriminator"]["propertyName"] == "kind"


def test_catalog_events_are_cheap_to_build():
    """The hot path builds about ten per task: building one is a dataclass, not a validation."""
    event = MemoryUpdated(length=1)
    assert not hasattr(event, "__dict__") and not hasattr(event, "model_fields")  # slotted, not a pydantic model


def test_the_openapi_document_types_every_stream_event():
    """The SSE and WebSocket routes point at the catalog's union, and a real event validates against
    the document's own schema (a wrong payload does not)."""
    doc = build_openapi("/", "0")
    stream = doc["components"]["schemas"]["StreamEvent"]
    assert set(stream["discriminator"]["mapping"]) == set(CATALOG)
    sse = doc["paths"]["/v1/events"]["get"]["responses"]["200"]["content"]["text/event-stream"]
    ws = doc["paths"]["/api/v1/projects/{projectId}/ws"]["get"]["responses"]["101"]
    assert sse["x-polpo-event-schema"] == ws["x-polpo-event-schema"] == {"$ref": "#/components/schemas/StreamEvent"}
    schema = {"$ref": "#/components/schemas/StreamEvent", "components": doc["components"]}
    event = TaskTransition(task_id="t", mission_id=None, title="a", from_="pending", to="assigned", agent_name="w",
                           timestamp="2026-01-01T00:00:00Z")
    jsonschema.validate({"id": "evt_00001", "event": "task:transition", "data": event.to_wire()}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"event": "task:transition", "data": {**event.to_wire(), "to": 3}}, schema)
