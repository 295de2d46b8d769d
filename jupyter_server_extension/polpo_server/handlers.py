"""Mounting: `build_handlers` turns the route table into tornado handlers, in both dialects.

Each route's kind names its handler class (`HANDLER_KINDS`): JSON routes (route_handler.py), the
event and execute streams (stream_handlers.py), the WebSocket (websocket.py) and the OpenAI chat
completions (chat.py). Adding a route is adding a row to routes.py; a new kind of answer is a class here.
"""

from __future__ import annotations

import re
from typing import Any

from .chat import ChatCompletionsHandler
from .dialects import DIALECTS
from .route_handler import FileHandler, NotFoundHandler, PublicRouteHandler, RouteHandler
from .routes import ROUTES, Route, route_groups
from .stream_handlers import EventsHandler, ExecuteHandler
from .websocket import EventSocketHandler


def _pattern(path: str) -> str:
    """`tasks/{taskId}` -> `tasks/(?P<taskId>[^/]+)`."""
    return re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path)


HANDLER_KINDS: dict[str, type] = {
    "json": RouteHandler, "events": EventsHandler, "execute": ExecuteHandler, "file": FileHandler,
    "websocket": EventSocketHandler, "chat": ChatCompletionsHandler,
}


def _handler_class(methods: dict[str, Route]) -> type:
    kind = next(iter(methods.values())).kind
    if kind == "json" and any(r.scope == "server" and r.path == "health" for r in methods.values()):
        return PublicRouteHandler
    return HANDLER_KINDS[kind]


def build_handlers(url_prefix: str, routes: list[Route] = ROUTES) -> list[tuple[str, type, dict[str, Any]]]:
    """(pattern, handler class, kwargs) for every route in both dialects, relative to the server's base
    URL (the ExtensionApp joins it), then each dialect's catch-all 404."""
    prefix = url_prefix.strip("/")
    prefix = f"{prefix}/" if prefix else ""
    handlers: list[tuple[str, type, dict[str, Any]]] = []
    seen: set[str] = set()
    for dialect in DIALECTS:
        for scope, path, methods in route_groups(routes):
            pattern = prefix + _pattern(dialect.mount(scope, path))
            if pattern in seen:  # the flat dialect mounts server and project routes side by side: first wins
                continue
            seen.add(pattern)
            handlers.append((pattern, _handler_class(methods), {"dialect": dialect, "routes": methods}))
    for dialect in DIALECTS:
        handlers.append((f"{prefix}{dialect.api_root}(?:/.*)?", NotFoundHandler, {"dialect": dialect}))
    return handlers


__all__ = ["HANDLER_KINDS", "build_handlers"]
