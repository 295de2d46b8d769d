"""The OpenAPI 3.1 document, generated from the route table and the pydantic models it names.

Request bodies are the models handlers validate with (`mode="validation"`), responses the models
the library returns (`mode="serialization"`), query parameters the query models' fields: the
document cannot drift from what the handlers do, because it is made of the same objects.
"""

from __future__ import annotations

import re
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, JsonSchemaValue, models_json_schema

from polpo_nb.events.catalog import stream_event_schema

from .dialects import DIALECTS, Dialect
from .keyauth import ADMIN_TAG
from .models import EnvelopeErrorBody, ErrorBody, OpenAIErrorBody, PageQuery, StreamEvent
from .pages import NEXT_CURSOR
from .routes import ROUTES, Route

REF = "#/components/schemas/{model}"
#: Every event of the SSE and WebSocket streams: the event catalog's union, discriminated by `event`.
STREAM_EVENT = {"$ref": REF.format(model="StreamEvent")}
ERROR_MODELS = (ErrorBody, EnvelopeErrorBody, OpenAIErrorBody)
_STATUS_TEXT = {200: "OK", 201: "Created"}
#: What every answer says of its key's rate limit, where one applies (ratelimit.py).
RATE_HEADERS = {
    "X-RateLimit-Limit": {"description": "Requests a minute this key may make", "schema": {"type": "integer"}},
    "X-RateLimit-Remaining": {"description": "Requests it may still make now", "schema": {"type": "integer"}},
    "X-RateLimit-Reset": {"description": "Seconds until its full allowance is back", "schema": {"type": "integer"}},
}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before trying again", "schema": {"type": "integer"}}}
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "description":
               "`Authorization: Bearer <key>`: the server's own credentials (`polpo serve --api-key`, the Jupyter "
               "token), which open every project and alone manage keys, or a project API key (`sk_live_...`; "
               "`sk_test_...` starts dry runs), which opens its own project only (another answers 404)."},
    "token": {"type": "apiKey", "in": "query", "name": "token",
              "description": "The same key as `?token=`, for EventSource and WebSocket clients that cannot send headers."},
}


def _models_of(tp: Any) -> list[type[BaseModel]]:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    return [m for arg in typing.get_args(tp) for m in _models_of(arg)]


#: What `models_json_schema` answers: each (model, mode) asked for, and its `$ref`.
Refs = dict[tuple[Any, JsonSchemaMode], JsonSchemaValue]

def _schema_of(tp: Any, refs: Refs, mode: JsonSchemaMode) -> dict[str, Any]:
    if tp is None:
        return {}
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return refs[(tp, mode)]
    origin = typing.get_origin(tp)
    if origin is list:
        return {"type": "array", "items": _schema_of(typing.get_args(tp)[0], refs, mode)}
    return {"type": "object"}


class _Builder:
    def __init__(self, routes: list[Route]) -> None:
        pairs: list[tuple[type[BaseModel], str]] = [(m, "serialization") for m in ERROR_MODELS + (StreamEvent,)]
        for route in routes:
            pairs += [(m, "serialization") for m in _models_of(route.response)]
            pairs += [(m, "validation") for m in _models_of(route.body)]
            pairs += [(m, "validation") for m in _models_of(route.query)]
        pairs = list(dict.fromkeys(pairs))
        self.refs, defs = models_json_schema(pairs, ref_template=REF)  # type: ignore[arg-type]
        self.schemas: dict[str, Any] = defs.get("$defs", {})
        stream = stream_event_schema(REF)  # one typed member per event name instead of `{event, data: object}`
        self.schemas.update(stream.pop("$defs"))
        self.schemas["StreamEvent"] = stream

    def _component(self, model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        ref = self.refs[(model, mode)]["$ref"]
        return self.schemas[ref.rsplit("/", 1)[1]]

    def parameters(self, route: Route, dialect: Dialect) -> list[dict[str, Any]]:
        out = []
        names = (["projectId"] if route.scope == "project" and dialect.scoped else []) + route.params
        for name in names:
            out.append({"name": name, "in": "path", "required": True, "schema": {"type": "string"}})
        if route.query is not None:
            component = self._component(route.query, "validation")
            required = set(component.get("required", []))
            for name, prop in component.get("properties", {}).items():
                out.append({"name": name, "in": "query", "required": name in required,
                            "description": prop.get("description", ""), "schema": prop})
        if route.kind in ("events", "websocket"):
            out.append({"name": "Last-Event-ID", "in": "header", "required": False, "schema": {"type": "string"},
                        "description": "Replay the events after this id (`42` or `evt_00042`)."})
        return out

    def _wrap(self, schema: dict[str, Any], dialect: Dialect, route: Route) -> dict[str, Any]:
        if route.raw or not dialect.envelope:
            return schema
        return {"type": "object", "required": ["ok", "data"],
                "properties": {"ok": {"const": True}, "data": schema}}

    def _error(self, dialect: Dialect, route: Route) -> dict[str, Any]:
        if route.kind == "chat":
            model: type[BaseModel] = OpenAIErrorBody
        else:
            model = EnvelopeErrorBody if dialect.envelope else ErrorBody
        return self.refs[(model, "serialization")]

    @staticmethod
    def _body_required(route: Route) -> bool:
        """An empty body is refused where the model has a required field, and always for PATCH."""
        model = route.body
        return route.partial or any(f.is_required() for f in model.model_fields.values())  # type: ignore[union-attr]

    def operation(self, route: Route, dialect: Dialect) -> dict[str, Any]:
        schema = self._wrap(_schema_of(route.response, self.refs, "serialization"), dialect, route)
        content: dict[str, Any]
        if route.kind in ("events", "execute"):
            names = "unnamed events whose data is `{event, data}`" if not dialect.named_events else "named events"
            content = {"text/event-stream": {"schema": {"type": "string"}, "x-polpo-events": names}}
            if route.kind == "events":
                content["text/event-stream"]["x-polpo-event-schema"] = STREAM_EVENT
            if route.kind == "execute":
                content["application/json"] = {"schema": schema}
        elif route.kind == "chat":  # `stream: true` answers OpenAI's chunks instead of one completion
            content = {"application/json": {"schema": schema},
                       "text/event-stream": {"schema": {"type": "string"},
                                             "x-polpo-events": "`data: {chat.completion.chunk}` lines, then `data: [DONE]`"}}
        elif route.kind == "file":
            content = {"application/octet-stream": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}
        else:
            content = {"application/json": {"schema": schema}}
        responses: dict[str, Any] = {str(route.status): {"description": _STATUS_TEXT.get(route.status, "OK"),
                                                         "content": content}}
        if route.kind == "websocket":
            responses = {"101": {"description": "Switching protocols: messages are `{id, event, data}`; send "
                                                "`{type: subscribe|unsubscribe, pattern}`",
                                 "x-polpo-event-schema": STREAM_EVENT}}
        error = {"application/json": {"schema": self._error(dialect, route)}}
        statuses = [("400", "Invalid input (field-level errors)"),
                    ("401", "No credentials (`unauthorized`), or an unknown or revoked API key (`invalid_api_key`)"),
                    ("404", "Unknown id (also any project but its own, for a project key)"),
                    ("409", "Name conflict or illegal transition")]
        if route.body is not None:
            statuses.append(("413", "The body is larger than the server accepts"))
        if route.method != "GET":
            statuses.append(("507", "The project's store refuses writes (`insufficient_storage`: a full disk, an "
                                    "I/O error): nothing was stored; send it again once space is freed"))
        if ADMIN_TAG in route.tags:
            statuses.append(("403", "Keys are managed with the server's own credentials, not with a project key"))
        statuses.append(("429", "Rate limited (`rate_limited`): this key made too many requests this minute, or "
                                "holds too many open streams"))
        for status, text in statuses:
            responses[status] = {"description": text, "content": error}
        responses["429"]["headers"] = {**RETRY_AFTER, **RATE_HEADERS}
        if route.kind != "websocket":
            responses[str(route.status)]["headers"] = RATE_HEADERS
        if route.query is not None and issubclass(route.query, PageQuery):
            ok = responses[str(route.status)]
            ok["headers"] = {**ok.get("headers", {}), NEXT_CURSOR: {
                "description": "With `limit`: the `cursor` of the next page (absent on the last one).",
                "schema": {"type": "string"}}}
        op: dict[str, Any] = {
            "operationId": re.sub(r"\W+", "_", f"{dialect.name}_{route.method}_{dialect.mount(route.scope, route.path)}")
            .strip("_").lower(),
            "summary": route.summary, "tags": list(route.tags), "parameters": self.parameters(route, dialect),
            "responses": responses,
        }
        if route.body is not None:
            op["requestBody"] = {"required": self._body_required(route),
                                 "content": {"application/json": {"schema": _schema_of(route.body, self.refs, "validation")}}}
        if route.scope == "server" and route.path == "health":
            op["security"] = []
        return op


def build_openapi(api_url: str, version: str, routes: list[Route] = ROUTES) -> dict[str, Any]:
    builder = _Builder(routes)
    paths: dict[str, dict[str, Any]] = {}
    for dialect in DIALECTS:
        for route in routes:
            path = "/" + dialect.mount(route.scope, route.path)
            paths.setdefault(path, {}).setdefault(route.method.lower(), builder.operation(route, dialect))
    return {
        "openapi": "3.1.0",
        "info": {"title": "polpo-nb", "version": version,
                 "description": "Both dialects of one API: `api/v1/projects/{projectId}/...` answers in an "
                                "envelope `{ok, data}`; `v1/...` answers raw resources on the default project."},
        "servers": [{"url": api_url.rstrip("/") or "/"}],
        "paths": paths,
        "components": {
            "schemas": builder.schemas,
            "securitySchemes": SECURITY_SCHEMES,
        },
        "security": [{"bearer": []}, {"token": []}],
    }
