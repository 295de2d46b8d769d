"""`GET ws`: the event stream as WebSocket messages `{id, event, data}`.

Every event until the client subscribes to patterns (`{"type": "subscribe", "pattern": "task:*"}`);
then only what it subscribed to. Replays after `lastEventId` (or `Last-Event-ID`), like SSE.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from polpo_nb.errors import PolpoError, SpecError
from polpo_nb.events import EventFilter, parse_event_id
from polpo_nb.spec import jsonbody, parse

from .auth import AUTH_RESOURCE
from .base import PolpoMixin
from .dialects import dumps, status_of
from .failures import failure_of
from .limits import check_patterns
from .models import EventsQuery
from .routes import Call
from .stream_handlers import KEY_REVOKED


class EventSocketHandler(PolpoMixin, WebSocketMixin, WebSocketHandler, ExtensionHandlerMixin, JupyterHandler):
    """`GET ws`: `{id, event, data}` messages; every event until the client subscribes to patterns."""

    patterns: list[str] | None = None
    consumer: asyncio.Task[None] | None = None

    def opens_stream(self) -> bool:
        return True

    async def pre_get(self) -> None:
        allowed = await ensure_async(self.authorizer.is_authorized(self, self.current_user, "read", AUTH_RESOURCE))
        if not allowed:
            raise web.HTTPError(403)

    @ws_authenticated
    async def get(self, **params: str) -> None:
        await self.pre_get()
        route = self.routes["GET"]
        project_id = params.pop("projectId", None)
        if self.request.headers.get("Upgrade", "").lower() != "websocket":
            raise web.HTTPError(400, "this route is a WebSocket: connect with `Upgrade: websocket`, or use the "
                                     "SSE route `events`")
        try:
            self.project = await self.polpo.registry.get(project_id)
            query = parse(EventsQuery, {k: self.get_query_argument(k) for k in self.request.query_arguments})
            after = parse_event_id(query.last_event_id or self.request.headers.get("Last-Event-ID"))
            self.after = self.project.event_cursor() if after is None else after
            self.flt = EventFilter(query.filter)
            await route.call(Call(app=self.polpo, project=self.project, params=params))
        except PolpoError as exc:
            failure = failure_of(exc)
            raise web.HTTPError(status_of(failure.code), failure.message) from None
        result = super().get(**params)
        if result is not None:
            await result

    def open(self, **params: str) -> None:
        super().open()
        self.polpo.streams.add(self)
        self.consumer = asyncio.ensure_future(self._forward())

    async def _forward(self) -> None:
        """Until the client leaves. A revoked key closes the socket (1008); so does falling too far behind
        (1013: the feed dropped the client, who reconnects with the last id it got, as an SSE client does)."""
        async for event in self.project.events(None, after=self.after):
            if not self.key_still_valid():
                self.close(1008, KEY_REVOKED)
                return
            if not self.flt.matches(event.event):
                continue
            try:
                await self.write_message(dumps(event.to_wire()))
            except WebSocketClosedError:
                return
        if self.ws_connection is not None and not self.ws_connection.is_closing():
            self.close(1013, "Too far behind the event stream: reconnect with lastEventId (the last id received)")

    def on_message(self, message: str | bytes) -> None:
        try:
            data = jsonbody.loads(message, where="message")
        except SpecError as exc:
            return self._reply_error(f"{exc.message}; messages are JSON objects such as "
                                     "{\"type\": \"subscribe\", \"pattern\": \"task:*\"}")
        if not isinstance(data, dict):
            return self._reply_error("messages are JSON objects")
        kind = data.get("type")
        if kind == "ping":
            return self._send({"type": "pong"})
        if kind not in ("subscribe", "unsubscribe"):
            return self._reply_error(f"unknown message type {kind!r}: use subscribe, unsubscribe or ping")
        try:
            patterns = check_patterns(data.get("patterns", data.get("pattern")))
            current = list(self.patterns or [])
            if kind == "subscribe":
                current += [p for p in patterns if p not in current]
                check_patterns(current, "patterns")  # the socket's total, not only this message's
            else:
                current = [p for p in current if p not in set(patterns)]
        except SpecError as exc:
            return self._reply_error(f"{kind}: {exc.message}")
        # once a client has subscribed it gets only what it subscribed to (nothing, if it unsubscribed all)
        self.patterns = current
        self.flt = EventFilter(current)
        self._send({"type": f"{kind}d", "patterns": current})
        return None

    def _reply_error(self, message: str) -> None:
        self._send({"type": "error", "error": message, "code": self.dialect.code("BAD_REQUEST")})

    def _send(self, data: dict[str, Any]) -> None:
        with contextlib.suppress(WebSocketClosedError):
            self.write_message(dumps(data))

    def on_close(self) -> None:
        self.release_stream()
        self.polpo.streams.discard(self)
        if self.consumer is not None:
            self.consumer.cancel()

    def close_stream(self) -> None:
        self.close(1001, "server stopping")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        PolpoMixin.write_error(self, status_code, **kwargs)
