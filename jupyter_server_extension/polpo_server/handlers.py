"""One generic tornado handler per kind of route; `build_handlers` mounts the table in both dialects.

A handler parses (path, query, body), makes the route's library call, and renders the answer in its
dialect. It holds no orchestration logic. Every verb is `@web.authenticated` + `@authorized` (the
WebSocket: `@ws_authenticated`); only health is public, and answers `{status: ok}` alone then.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from jupyter_core.utils import ensure_async
from jupyter_server.auth import User
from jupyter_server.auth.decorator import allow_unauthenticated, authorized, ws_authenticated
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from polpo_nb import AsyncProject, files
from polpo_nb.errors import PolpoError, SpecError
from polpo_nb.events import EventFilter, parse_event_id
from polpo_nb.spec import parse, to_jsonable

from . import jsonbody
from .cache import RenderCache
from .dialects import DIALECTS, Dialect, code_of, dumps, status_of
from .limits import MAX_BODY_BYTES, check_patterns
from .models import EventsQuery
from .routes import ROUTES, Call, Route, route_groups
from .sse import SseResponse, execute_events, pump

if TYPE_CHECKING:
    from .app import PolpoServerApp

AUTH_RESOURCE = "polpo"
VERBS = ("GET", "POST", "PUT", "PATCH", "DELETE")


class Failure(Exception):
    """An error already classified: contract code, message, optional field errors."""

    def __init__(self, code: str, message: str, errors: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.errors = errors
        self.headers = headers or {}


def bearer_token(request: Any) -> str | None:
    """The key of `Authorization: Bearer <key>` (or `token <key>`), else `?token=<key>`."""
    match = re.match(r"(?:bearer|token)\s+(.+)", request.headers.get("Authorization", ""), re.IGNORECASE)
    if match:
        return match.group(1).strip()
    values = request.query_arguments.get("token")
    return values[0].decode(errors="replace") if values else None


def _pattern(path: str) -> str:
    """`tasks/{taskId}` -> `tasks/(?P<taskId>[^/]+)`."""
    return re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path)


class _PolpoMixin:
    """What every polpo handler shares: its dialect and routes, auth answers, error rendering."""

    auth_resource = AUTH_RESOURCE
    dialect: Dialect
    routes: dict[str, Route]

    def initialize(self, name: str, dialect: Dialect, routes: dict[str, Route] | None = None) -> None:  # type: ignore[override]
        self.dialect = dialect
        self.routes = routes or {}
        super().initialize(name)  # type: ignore[misc]

    @property
    def polpo(self) -> PolpoServerApp:
        return self.extensionapp  # type: ignore[attr-defined,no-any-return]

    def prepare(self, *args: Any, **kwargs: Any) -> Any:
        # The extension's own key (c.PolpoServerApp.api_key) is accepted besides the server's token. The
        # identity providers of jupyter_server (and `polpo serve`'s) honour a user set before prepare().
        key = self.polpo.api_key
        if key and getattr(self, "_jupyter_current_user", None) is None:
            presented = bearer_token(self.request)  # type: ignore[attr-defined]
            if presented and hmac.compare_digest(presented.encode(), key.encode()):
                self._jupyter_current_user = User("polpo-api-key", name="polpo API key")
                self._token_authenticated = True
        return super().prepare(*args, **kwargs)  # type: ignore[misc]

    def set_cors_headers(self) -> None:
        super().set_cors_headers()  # type: ignore[misc]
        handler: Any = self
        if handler.settings.get("polpo_configured_cors_only") and not (handler.allow_origin or handler.allow_origin_pat):
            handler.clear_header("Access-Control-Allow-Origin")  # Jupyter's echo for token-authenticated requests

    def get_login_url(self) -> str:
        # an API never redirects to a login page: missing or wrong credentials are a 401
        raise web.HTTPError(401)

    def _credentials_sent(self) -> bool:
        request = self.request  # type: ignore[attr-defined]
        return bool(request.headers.get("Authorization") or request.query_arguments.get("token"))

    def classify(self, status: int, exc: BaseException | None) -> Failure:
        authenticated = getattr(self, "_jupyter_current_user", None) is not None
        if status in (401, 403) and not authenticated:
            code = "INVALID_API_KEY" if self._credentials_sent() else "UNAUTHORIZED"
            message = "Invalid API key" if code == "INVALID_API_KEY" else "Missing credentials: send Authorization: Bearer <key>"
            return Failure(code, message, headers={"WWW-Authenticate": 'Bearer realm="polpo"'})
        message = ""
        if isinstance(exc, web.HTTPError):
            message = exc.log_message % exc.args if exc.log_message and exc.args else (exc.log_message or "")
        code = code_of(status)
        if code == "INTERNAL":
            message = "Internal server error"
        return Failure(code, message or _reason(status))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        failure = exc if isinstance(exc, Failure) else self.classify(status_code, exc)
        self.render_failure(failure)

    def render_failure(self, failure: Failure) -> None:
        handler: Any = self
        handler.clear()
        handler.set_status(status_of(failure.code))
        for name, value in failure.headers.items():
            handler.set_header(name, value)
        handler.set_header("Content-Type", "application/json")
        body = dumps(self.dialect.error(failure.code, failure.message, failure.errors))
        web.RequestHandler.finish(handler, body)


def _reason(status: int) -> str:
    from http.client import responses

    return responses.get(status, "Error")


def _failure_of(exc: BaseException) -> Failure:
    if isinstance(exc, SpecError):
        return Failure("BAD_REQUEST", exc.message, exc.errors)
    if isinstance(exc, PolpoError) and exc.code in ("BAD_REQUEST", "NOT_FOUND", "CONFLICT"):
        return Failure(exc.code, exc.message)
    return Failure("INTERNAL", "Internal server error")


class RouteHandler(_PolpoMixin, ExtensionHandlerMixin, APIHandler):
    """JSON routes: parse, call the library, answer in the dialect."""

    @web.authenticated
    @authorized
    async def get(self, **params: str) -> None:
        await self.dispatch("GET", params)

    @web.authenticated
    @authorized
    async def post(self, **params: str) -> None:
        await self.dispatch("POST", params)

    @web.authenticated
    @authorized
    async def put(self, **params: str) -> None:
        await self.dispatch("PUT", params)

    @web.authenticated
    @authorized
    async def patch(self, **params: str) -> None:
        await self.dispatch("PATCH", params)

    @web.authenticated
    @authorized
    async def delete(self, **params: str) -> None:
        await self.dispatch("DELETE", params)

    # -- dispatch ----------------------------------------------------------------------------------------

    async def dispatch(self, method: str, params: dict[str, str]) -> None:
        try:
            route = self.routes.get(method)
            if route is None:
                allowed = ", ".join(sorted(self.routes))
                raise Failure("METHOD_NOT_ALLOWED", f"{method} is not allowed here (allowed: {allowed})",
                              headers={"Allow": allowed})
            call = await self.make_call(route, params)
            await self.respond(route, call)
        except Failure as failure:
            self._fail(failure)
        except web.HTTPError as exc:
            self._fail(self.classify(exc.status_code, exc))
        except PolpoError as exc:
            self._fail(_failure_of(exc))
        except StreamClosedError:
            pass
        except Exception:  # noqa: BLE001 - never a traceback to the client; the log keeps it
            self.log.exception("polpo: %s %s failed", method, self.request.path)
            self._fail(Failure("INTERNAL", "Internal server error"))

    def _fail(self, failure: Failure) -> None:
        if self._headers_written:  # a stream already started: nothing more can be said in HTTP
            return
        self.render_failure(failure)

    async def project_for(self, route: Route, params: dict[str, str]) -> AsyncProject:
        project_id = params.pop("projectId", None)
        if route.scope == "server":
            return None  # type: ignore[return-value]
        return await self.polpo.registry.get(project_id)

    async def make_call(self, route: Route, params: dict[str, str]) -> Call:
        project = await self.project_for(route, params)
        call = Call(app=self.polpo, project=project, params=params, url=self.request.path,
                    authenticated=getattr(self, "_jupyter_current_user", None) is not None)
        if route.query is not None:
            args = {k: self.get_query_argument(k) for k in self.request.query_arguments}
            call.query = parse(route.query, args)
        if route.body is not None:
            call.body = self.parse_body(route)
        return call

    def parse_body(self, route: Route) -> Any:
        if len(self.request.body) > MAX_BODY_BYTES:
            raise Failure("PAYLOAD_TOO_LARGE", f"the body is {len(self.request.body)} bytes: at most {MAX_BODY_BYTES}")
        raw = self.request.body.strip()
        data = jsonbody.loads(raw) if raw else {}
        if not isinstance(data, dict):
            raise SpecError([{"loc": ["body"], "msg": "the body is one JSON object"}])
        if route.partial:
            if not data:
                raise SpecError([{"loc": ["body"], "msg": "name at least one field to change"}])
            known = {f.alias or k for k, f in route.body.model_fields.items()} | set(route.body.model_fields)  # type: ignore[union-attr]
            unknown = sorted(set(data) - known)
            if unknown:
                raise SpecError([{"loc": [k], "msg": "not a field of this resource"} for k in unknown])
            return data
        return parse(route.body, data)  # type: ignore[arg-type]

    async def respond(self, route: Route, call: Call) -> None:
        if route.cache:
            version = await call.project.state_version()
            query = tuple(sorted((k, tuple(v)) for k, v in self.request.query_arguments.items() if k != "token"))
            key = (str(call.project.root), self.dialect.name, route.method, route.path,
                   tuple(sorted(call.params.items())), query)
            self.set_header("ETag", RenderCache.etag(key, version))
            if self.check_etag_header():  # the client has this very answer (tornado checks only its own ETags)
                self.set_status(304)
                await self.finish()
                return
            body = await self.polpo.render_cache.get(key, version, lambda: self.render(route, call))
        else:
            body = await self.render(route, call)
        self.set_status(route.status)
        await self.finish(body)

    async def render(self, route: Route, call: Call) -> bytes:
        result = await route.call(call)
        data = result if route.raw else self.dialect.success(to_jsonable(result))
        return dumps(data).encode()

    def compute_etag(self) -> str | None:
        return None  # tornado would hash every body; cached reads carry a state-based ETag instead


class PublicRouteHandler(RouteHandler):
    """Health: reachable without credentials, and then it says `{status: ok}` only."""

    @allow_unauthenticated
    async def get(self, **params: str) -> None:
        await self.dispatch("GET", params)


class _StreamMixin:
    """Handlers that keep the connection open: registered with the app so it can close them."""

    response: SseResponse | None = None

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
        try:
            await self.response.start()
            await pump(source, emit, self.response, handler.polpo.sse_keepalive)
            await self.response.end()
        except StreamClosedError:
            pass  # the client left
        except Exception:  # noqa: BLE001 - the stream is open: say it in the stream, never a traceback
            handler.log.exception("polpo: stream %s failed", handler.request.path)
            if not self.response.closed.is_set():
                with contextlib.suppress(StreamClosedError):
                    await self.response.fail("INTERNAL")
        finally:
            streams.discard(self)


class EventsHandler(_StreamMixin, RouteHandler):
    """`GET events`: every event (or those matching `?filter=`), replayed after `Last-Event-ID`."""

    async def make_call(self, route: Route, params: dict[str, str]) -> Call:
        call = await super().make_call(route, params)
        header = self.request.headers.get("Last-Event-ID")
        try:
            call.last_event_id = parse_event_id(header if header else call.query.last_event_id)
        except SpecError as exc:
            raise Failure("BAD_REQUEST", exc.message, exc.errors) from None
        if call.last_event_id is None:  # "from now" means from this request, not from when the stream is read
            call.last_event_id = call.project.bus.cursor
        return call

    async def respond(self, route: Route, call: Call) -> None:
        source = await route.call(call)

        async def emit(event: Any) -> None:
            await self.response.send(event.event, event.data, event.wire_id)  # type: ignore[union-attr]

        await self.stream(source, emit)


class ExecuteHandler(_StreamMixin, RouteHandler):
    """`POST tasks/:id/execute`, `missions/:id/execute|resume`: the seed's SSE stream, or JSON."""

    def wants_stream(self, route: Route) -> bool:
        accept = self.request.headers.get("Accept", "")
        if "text/event-stream" in accept:
            return True
        return route.stream_by_default and "application/json" not in accept

    async def respond(self, route: Route, call: Call) -> None:
        after = call.project.bus.cursor  # events of this run are the ones after this
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


class FileHandler(RouteHandler):
    """`GET files/read`: the bytes, with their Content-Type; `download=1` makes it an attachment."""

    async def respond(self, route: Route, call: Call) -> None:
        path = await route.call(call)
        mime = files.content_type(path)
        disposition = "attachment" if call.query.download else "inline"
        self.set_header("Content-Disposition", f"{disposition}; filename*=utf-8''{quote(path.name)}")
        self.set_header("Content-Length", str(path.stat().st_size))
        self.set_header("X-Content-Type-Options", "nosniff")
        # a project's HTML must never run as this server's origin
        self.set_header("Content-Security-Policy", "default-src 'none'; sandbox")
        self.set_header("Content-Type", mime)
        for block in files.chunks(path):
            self.write(block)
            await self.flush()
        await self.finish(set_content_type=mime)


class NotFoundHandler(RouteHandler):
    """Anything under an API root that no route matches: a 404 in the dialect, never an HTML page."""

    async def dispatch(self, method: str, params: dict[str, str]) -> None:
        self._fail(Failure("NOT_FOUND", f"No route {method} {self.request.path}"))


class EventSocketHandler(_PolpoMixin, WebSocketMixin, WebSocketHandler, ExtensionHandlerMixin, JupyterHandler):
    """`GET ws`: `{id, event, data}` messages; every event until the client subscribes to patterns."""

    patterns: list[str] | None = None
    consumer: asyncio.Task[None] | None = None

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
            self.after = self.project.bus.cursor if after is None else after
            self.flt = EventFilter(query.filter)
            await route.call(Call(app=self.polpo, project=self.project, params=params))
        except PolpoError as exc:
            failure = _failure_of(exc)
            raise web.HTTPError(status_of(failure.code), failure.message) from None
        result = super().get(**params)
        if result is not None:
            await result

    def open(self, **params: str) -> None:  # type: ignore[override]
        super().open()
        self.polpo.streams.add(self)
        self.consumer = asyncio.ensure_future(self._forward())

    async def _forward(self) -> None:
        async for event in self.project.events(None, after=self.after):
            if not self.flt.matches(event.event):
                continue
            try:
                await self.write_message(dumps(event.to_wire()))
            except WebSocketClosedError:
                return

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
        self.polpo.streams.discard(self)
        if self.consumer is not None:
            self.consumer.cancel()

    def close_stream(self) -> None:
        self.close(1001, "server stopping")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        _PolpoMixin.write_error(self, status_code, **kwargs)


HANDLER_KINDS: dict[str, type] = {
    "json": RouteHandler, "events": EventsHandler, "execute": ExecuteHandler, "file": FileHandler,
    "websocket": EventSocketHandler,
}


def _handler_class(methods: dict[str, Route]) -> type:
    kind = next(iter(methods.values())).kind
    if kind == "chat":  # chat.py builds on this module's handlers, so it is imported when mounting
        from .chat import ChatCompletionsHandler

        return ChatCompletionsHandler
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


__all__ = ["VERBS", "build_handlers"]
