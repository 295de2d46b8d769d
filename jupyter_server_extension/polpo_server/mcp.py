"""The default project as an MCP server over streamable HTTP: `{base_url}polpo/mcp` on Jupyter, `/mcp` on
`polpo serve`, behind the same authentication as every other route (401 without credentials).

The protocol is the official SDK's (`polpo_nb.mcp_server.http_session_manager`, an ASGI app); this
module only carries a tornado request to it and its answer back, after tornado and Jupyter have
authenticated the request. The SDK's session manager runs once per server, started with the first
request and stopped with the extension (`stop_mcp`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import weakref
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web

from polpo_nb.errors import SpecError
from polpo_nb.mcp_stdin import parse_error
from polpo_nb.spec import jsonbody

from .base import PolpoMixin
from .dialects import FLAT
from .limits import MAX_BODY_BYTES


class _Endpoint:
    """The SDK's session manager, running for as long as the server does."""

    def __init__(self, context: Any) -> None:
        from polpo_nb.mcp_server import http_session_manager  # the SDK (about a second) on first use only

        self.manager = http_session_manager(context.registry.default)
        self._stop = asyncio.Event()
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run())
        await self._ready.wait()
        await self.manager.handle_request(scope, receive, send)

    async def _run(self) -> None:
        async with self.manager.run():
            self._ready.set()
            await self._stop.wait()

    async def close(self) -> None:
        if self._task is not None:
            self._stop.set()
            with contextlib.suppress(Exception):
                await self._task


#: The running extension -> its endpoint (a server process may hold several, as tests do).
_ENDPOINTS: weakref.WeakKeyDictionary[Any, _Endpoint] = weakref.WeakKeyDictionary()


def _endpoint(context: Any) -> _Endpoint:
    endpoint = _ENDPOINTS.get(context)
    if endpoint is None:
        endpoint = _ENDPOINTS[context] = _Endpoint(context)
    return endpoint


async def stop_mcp(context: Any) -> None:
    """Stop the extension's MCP endpoint, if a request started it."""
    endpoint = _ENDPOINTS.pop(context, None)
    if endpoint is not None:
        await endpoint.close()


class McpHandler(PolpoMixin, ExtensionHandlerMixin, APIHandler):
    """POST (and the transport's GET/DELETE) of the MCP endpoint, handed to the SDK as ASGI."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        await self._asgi()

    @web.authenticated
    @authorized
    async def get(self) -> None:
        await self._asgi()

    @web.authenticated
    @authorized
    async def delete(self) -> None:
        await self._asgi()

    def target(self) -> tuple[bool, str | None]:
        return True, None  # the default project's

    #: the SDK runs tool calls in its own task group, outside the request: they could not be dry runs
    runs_dry = False

    _gone: asyncio.Event | None = None  # set when the client goes away (the SDK then stops waiting)

    def on_connection_close(self) -> None:
        if self._gone is not None:
            self._gone.set()

    async def _asgi(self) -> None:
        if len(self.request.body) > MAX_BODY_BYTES:
            raise web.HTTPError(413)
        if self.request.method == "POST" and self.request.body:
            try:  # the JSON every other body is held to: the SDK would take the last of a key given twice
                jsonbody.loads(self.request.body)
            except SpecError as exc:  # answered as the SDK answers JSON it cannot parse
                self.set_status(400)
                self.set_header("Content-Type", "application/json")
                self.finish(json.dumps(parse_error(exc)))
                return
        gone = self._gone = asyncio.Event()
        body = self.request.body
        delivered = False

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                self.set_status(message["status"])
                self.clear_header("Content-Type")
                for name, value in message.get("headers", []):
                    self.add_header(name.decode("latin-1"), value.decode("latin-1"))
            elif message["type"] == "http.response.body":
                if message.get("body"):
                    self.write(message["body"])
                if message.get("more_body"):
                    await self.flush()

        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": self.request.method,
            "scheme": self.request.protocol, "path": "/mcp", "raw_path": b"/mcp", "root_path": "",
            "query_string": b"",  # the query may hold the token: the SDK needs none of it
            "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in self.request.headers.get_all()
                        if k.lower() != "authorization"],
            "client": (self.request.remote_ip or "", 0), "server": (self.request.host_name, 0),
        }
        await _endpoint(self.polpo).handle(scope, receive, send)
        if not self._finished:
            self.finish()


def mcp_handlers(url_prefix: str) -> list[tuple[str, type, dict[str, Any]]]:
    """The MCP endpoint's route, relative to the server's base URL (the ExtensionApp joins it)."""
    prefix = url_prefix.strip("/")
    prefix = f"{prefix}/" if prefix else ""
    return [(f"{prefix}mcp", McpHandler, {"dialect": FLAT})]


__all__ = ["mcp_handlers", "stop_mcp"]
