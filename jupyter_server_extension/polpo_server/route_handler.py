"""The JSON routes' handler: parse (path, query, body), make the route's library call, answer in the dialect.

A handler holds no orchestration logic: a route of the table (routes.py) says what to call and with
which models; `RouteHandler` does the HTTP around it. Cached reads carry a state-based ETag (`If-None-Match`
answers 304). Health is public (then it says `{status: ok}` alone); a path no route matches is a 404 in
the dialect, never an HTML page.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from jupyter_server.auth.decorator import allow_unauthenticated, authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web
from tornado.iostream import StreamClosedError

from polpo_nb import AsyncProject, dryrun, files
from polpo_nb.errors import PolpoError, SpecError
from polpo_nb.spec import jsonbody, parse, to_jsonable

from .base import PolpoMixin
from .cache import RenderCache, Rendered, WireJSON
from .dialects import dumps, status_of
from .failures import Failure, failure_of
from .limits import MAX_BODY_BYTES
from .routes import Call, Route

#: A body this large (bytes) is sent after its headers rather than copied behind them.
BIG_BODY = 64 * 1024


class RouteHandler(PolpoMixin, ExtensionHandlerMixin, APIHandler):
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
            with dryrun.scope(self.principal is not None and self.principal.test):  # a test key: dry runs
                await self.respond(route, call)
        except Failure as failure:
            self._fail(failure)
        except web.HTTPError as exc:
            self._fail(self.classify(exc.status_code, exc))
        except PolpoError as exc:
            answer = failure_of(exc)
            if status_of(answer.code) >= 500:  # the client is told little (a full disk, a damaged store)
                self.log.error("polpo: %s %s failed: %s", method, self.request.path, exc.message)
            self._fail(answer)
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
                    authenticated=self.authenticated, principal=self.principal)
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
            answer = await self.polpo.render_cache.get(key, version, lambda: self.render_call(route, call))
        else:
            answer = await self.render_call(route, call)
        for name, value in answer.headers.items():
            self.set_header(name, value)
        self.set_status(route.status)
        if len(answer.body) > BIG_BODY:
            # Tornado would send the headers and the body as one new bytes object, a copy of a body of
            # megabytes (a whole list) per request; sent apart, the body goes out as it is.
            self.set_header("Content-Type", "application/json")
            self.set_header("Content-Length", len(answer.body))
            self.flush()
        await self.finish(answer.body)

    async def render_call(self, route: Route, call: Call) -> Rendered:
        """The route's answer as the bytes of the body (tornado's `render` is for templates)."""
        result = await route.call(call)
        if isinstance(result, WireJSON):  # rendered record by record already (lists.py)
            return Rendered(self.dialect.success_json(result.json), result.headers)
        data = result if route.raw else self.dialect.success(to_jsonable(result))
        return Rendered(dumps(data).encode())

    def compute_etag(self) -> str | None:
        return None  # tornado would hash every body; cached reads carry a state-based ETag instead


class PublicRouteHandler(RouteHandler):
    """Health: reachable without credentials, and then it says `{status: ok}` only."""

    @allow_unauthenticated
    async def get(self, **params: str) -> None:
        await self.dispatch("GET", params)


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
