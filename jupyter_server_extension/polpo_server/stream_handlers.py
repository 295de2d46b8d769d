"""Handlers that keep the connection open: the event stream and the execute routes' SSE.

Each registers with the server while it streams, so stopping the server ends them (`close_stream`);
once a stream has started, a failure is said in the stream, never as a traceback.
"""

from __future__ import annotations

import contextlib
from typing import Any

from tornado.iostream import StreamClosedError

from polpo_nb.errors import PolpoError, SpecError
from polpo_nb.events import parse_event_id
from polpo_nb.spec import to_jsonable

from .dialects import dumps
from .failures import Failure, failure_of
from .route_handler import RouteHandler
from .routes import Call, Route
from .sse import SseResponse, execute_events, pump

#: What a stream whose key was revoked while it was open is told, before it ends (SSE) or closes (WebSocket).
KEY_REVOKED = "The API key was revoked"


class KeyRevoked(Exception):
    """The key holding a stream open was revoked: the stream ends."""


class StreamMixin:
    """Handlers that keep the connection open: registered with the app so it can close them."""

    response: SseResponse | None = None

    def opens_stream(self) -> bool:
        return True

    def on_connection_close(self) -> None:
        if self.response is not None:
            self.response.closed.set()
        super().on_connection_close()  # type: ignore[misc]

    def close_stream(self) -> None:
        if self.response is not None:
            self.response.closed.set()

    async def stream(self, source: Any, emit: Any, response: SseResponse | None = None) -> None:
        """Pump `source` through `emit` as SSE (the dialect's, unless a `response` says otherwise)."""
        handler: Any = self
        self.response = response or SseResponse(handler, handler.dialect)
        streams = handler.polpo.streams
        streams.add(self)

        async def admitted(item: Any) -> None:
            if not handler.key_still_valid():
                raise KeyRevoked
            await emit(item)
        try:
            await self.response.start()
            await pump(source, admitted, self.response, handler.polpo.sse_keepalive)
            await self.response.end()
        except StreamClosedError:
            pass  # the client left
        except KeyRevoked:
            with contextlib.suppress(StreamClosedError):
                await self.response.fail("INVALID_API_KEY", KEY_REVOKED)
        except PolpoError as exc:  # (the run it follows stopped: its store refused a write)
            handler.log.error("polpo: stream %s: %s", handler.request.path, exc.message)
            answer = failure_of(exc)
            if not self.response.closed.is_set():
                with contextlib.suppress(StreamClosedError):
                    await self.response.fail(answer.code, answer.message)
        except Exception:  # noqa: BLE001 - the stream is open: say it in the stream, never a traceback
            handler.log.exception("polpo: stream %s failed", handler.request.path)
            if not self.response.closed.is_set():
                with contextlib.suppress(StreamClosedError):
                    await self.response.fail("INTERNAL")
        finally:
            streams.discard(self)


class EventsHandler(StreamMixin, RouteHandler):
    """`GET events`: every event (or those matching `?filter=`), replayed after `Last-Event-ID`."""

    async def make_call(self, route: Route, params: dict[str, str]) -> Call:
        call = await super().make_call(route, params)
        header = self.request.headers.get("Last-Event-ID")
        try:
            call.last_event_id = parse_event_id(header if header else call.query.last_event_id)
        except SpecError as exc:
            raise Failure("BAD_REQUEST", exc.message, exc.errors) from None
        if call.last_event_id is None:  # "from now" means from this request, not from when the stream is read
            call.last_event_id = call.project.event_cursor()
        return call

    async def respond(self, route: Route, call: Call) -> None:
        source = await route.call(call)

        async def emit(event: Any) -> None:
            await self.response.send(event.event, event.data, event.wire_id)  # type: ignore[union-attr]

        await self.stream(source, emit)


class ExecuteHandler(StreamMixin, RouteHandler):
    """`POST tasks/:id/execute`, `missions/:id/execute|resume`: the seed's SSE stream, or JSON."""

    def opens_stream(self) -> bool:
        route = self.routes.get(self.request.method or "")
        return route is not None and self.wants_stream(route)

    def wants_stream(self, route: Route) -> bool:
        accept = self.request.headers.get("Accept", "")
        if "text/event-stream" in accept:
            return True
        return route.stream_by_default and "application/json" not in accept

    async def respond(self, route: Route, call: Call) -> None:
        after = call.project.event_cursor()  # events of this run are the ones after this
        handle = await route.call(call)
        if not self.wants_stream(route):
            record = await (call.project.get_mission(handle.mission_id) if handle.mission_id
                            else call.project.get_task(handle.task_id))
            self.set_status(200)
            await self.finish(dumps(self.dialect.success(to_jsonable(record))))
            return
        assert route.stream is not None
        subject = handle.mission_id or handle.task_id
        source = execute_events(call.project, route.stream, subject, handle, after)

        async def emit(item: tuple[str, Any, str | None]) -> None:
            await self.response.send(*item)  # type: ignore[union-attr]

        await self.stream(source, emit)
