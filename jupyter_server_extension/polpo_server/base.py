"""What every polpo handler shares: its dialect and routes, the server it serves, auth, error rendering."""

from __future__ import annotations

from typing import Any

from tornado import web

from .auth import AuthMixin
from .context import ServerContext
from .dialects import Dialect, dumps, status_of
from .failures import Failure, Refusal, http_failure
from .keyauth import ADMIN_TAG, KeyGate
from .routes import Route


class PolpoMixin(AuthMixin):
    """Mixed into every polpo handler (before tornado's and Jupyter's classes)."""

    dialect: Dialect
    routes: dict[str, Route]

    def initialize(self, name: str, dialect: Dialect, routes: dict[str, Route] | None = None) -> None:
        self.dialect = dialect
        self.routes = routes or {}
        super().initialize(name)  # type: ignore[misc]

    @property
    def polpo(self) -> ServerContext:
        return self.extensionapp  # type: ignore[attr-defined]

    def accepted_key(self) -> str:
        return self.polpo.api_key

    @property
    def key_gate(self) -> KeyGate:
        return self.polpo.key_gate

    def target(self) -> tuple[bool, str | None]:
        scoped = any(route.scope == "project" for route in self.routes.values())
        path_kwargs: dict[str, str] = getattr(self, "path_kwargs", {}) or {}
        return scoped, path_kwargs.get("projectId") if scoped else None

    def administers_keys(self) -> bool:
        return any(ADMIN_TAG in route.tags for route in self.routes.values())

    def classify(self, status: int, exc: BaseException | None) -> Failure:
        return self.auth_failure(status) or http_failure(status, exc)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        failure = exc if isinstance(exc, Failure) else exc.failure if isinstance(exc, Refusal) \
            else self.classify(status_code, exc)
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
