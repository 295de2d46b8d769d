"""OpenAPI: one valid 3.1 document for both dialects, generated from the route table and its models."""

from __future__ import annotations

from openapi_spec_validator import validate
from pydantic import Field
from server_helpers import Api

from polpo_nb.spec import Task, TaskRecord, WireModel
from polpo_server.dialects import DIALECTS
from polpo_server.openapi import build_openapi
from polpo_server.routes import ROUTES, Route


async def test_openapi_is_a_valid_document_listing_every_route_in_both_dialects(api: Api):
    response = await api.client.get(api.url("openapi.json", server=True))
    assert response.status_code == 200
    doc = response.json()
    validate(doc)
    assert doc["servers"] == [{"url": "/a%40b/polpo"}]
    for dialect in DIALECTS:
        for route in ROUTES:
            path = "/" + dialect.mount(route.scope, route.path)
            assert route.method.lower() in doc["paths"][path], (route.method, path)


async def test_project_level_document_is_the_same(papi: Api):
    server = (await papi.client.get(papi.url("openapi.json", server=True))).json()
    project = (await papi.client.get(papi.url("openapi.json"))).json()
    assert server == project


def test_schemas_are_the_models_the_handlers_validate_with():
    doc = build_openapi("/", "0")
    schemas = doc["components"]["schemas"]
    assert set(schemas["Task"]["properties"]) == {f.alias for f in Task.model_fields.values()}
    assert schemas["Task"]["required"] == ["title"]  # assignTo or notebook: the model says which is missing
    assert set(schemas["TaskRecord"]["properties"]) >= {"id", "status", "phase", "retries", "assessment"}
    create = doc["paths"]["/v1/tasks"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Task"}
    listing = doc["paths"]["/v1/tasks"]["get"]
    assert listing["responses"]["200"]["content"]["application/json"]["schema"] == {
        "type": "array", "items": {"$ref": "#/components/schemas/TaskRecord"}}
    assert {p["name"] for p in listing["parameters"]} == {"status", "group", "assignTo", "limit", "cursor"}
    assert "X-Next-Cursor" in listing["responses"]["200"]["headers"]  # a page's next cursor
    patch = doc["paths"]["/v1/tasks/{taskId}"]["patch"]["requestBody"]["content"]["application/json"]["schema"]
    assert patch == {"$ref": "#/components/schemas/TaskPatch"} and "required" not in schemas["TaskPatch"]
    assert TaskRecord.__name__ in schemas


def test_envelope_dialect_wraps_the_same_schema():
    doc = build_openapi("/", "0")
    wrapped = doc["paths"]["/api/v1/projects/{projectId}/tasks/{taskId}"]["get"]["responses"]["200"]
    schema = wrapped["content"]["application/json"]["schema"]
    assert schema["properties"]["data"] == {"$ref": "#/components/schemas/TaskRecord"}
    assert schema["properties"]["ok"] == {"const": True}
    flat = doc["paths"]["/v1/tasks/{taskId}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert flat == {"$ref": "#/components/schemas/TaskRecord"}
    params = doc["paths"]["/api/v1/projects/{projectId}/tasks/{taskId}"]["get"]["parameters"]
    assert [p["name"] for p in params] == ["projectId", "taskId"]


def test_a_new_model_in_the_table_shows_up_in_the_document():
    class Widget(WireModel):
        widget_name: str = Field(description="What it is called.")

    async def call(c):
        return Widget(widget_name="w")

    doc = build_openapi("/", "0", routes=[Route("POST", "widgets", call, "Make a widget", body=Widget, response=Widget)])
    assert doc["components"]["schemas"]["Widget"]["properties"]["widgetName"]["description"] == "What it is called."
    validate(doc)


def test_streaming_routes_document_their_event_stream():
    doc = build_openapi("/polpo", "0")
    completions = doc["paths"]["/v1/chat/completions"]["post"]["responses"]["200"]["content"]
    assert set(completions) == {"application/json", "text/event-stream"}
    assert "[DONE]" in completions["text/event-stream"]["x-polpo-events"]
    assert completions["application/json"]["schema"] == {"$ref": "#/components/schemas/ChatCompletion"}
    execute = doc["paths"]["/v1/missions/{missionId}/execute"]["post"]["responses"]["200"]["content"]
    assert "text/event-stream" in execute
