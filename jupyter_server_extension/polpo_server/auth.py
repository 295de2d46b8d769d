"""Who may call the API: the server's own authentication, plus the extension's API key.

Every verb of a polpo handler is `@web.authenticated` + `@authorized` on `AUTH_RESOURCE` (the
WebSocket: `@ws_authenticated`). Besides the server's token, `c.PolpoServerApp.api_key` is accepted
as `Authorization: Bearer <key>` (or `token <key>`, or `?token=<key>`). An API never redirects to a
login page: missing or wrong credentials are a 401 saying which.
"""

from __future__ import annotations

import hmac
import re
from typing import Any

from jupyter_server.auth import User
from tornado import web

from .failures import Failure

AUTH_RESOURCE = "polpo"


def bearer_token(request: Any) -> str | None:
    """The key of `Authorization: Bearer <key>` (or `token <key>`), else `?token=<key>`."""
    match = re.match(r"(?:bearer|token)\s+(.+)", request.headers.get("Authorization", ""), re.IGNORECASE)
    if match:
        return match.group(1).strip()
    values = request.query_arguments.get("token")
    return values[0].decode(errors="replace") if values else None


class AuthMixin:
    """The API key, CORS as configured, and 401s instead of login redirects."""

    auth_resource = AUTH_RESOURCE

    def accepted_key(self) -> str:
        raise NotImplementedError

    def prepare(self, *args: Any, **kwargs: Any) -> Any:
        # The extension's own key (c.PolpoServerApp.api_key) is accepted besides the server's token. The
        # identity providers of jupyter_server (and `polpo serve`'s) honour a user set before prepare().
        key = self.accepted_key()
        handler: Any = self  # a JupyterHandler: the user and token flags are its own
        if key and getattr(handler, "_jupyter_current_user", None) is None:
            presented = bearer_token(handler.request)
            if presented and hmac.compare_digest(presented.encode(), key.encode()):
                handler._jupyter_current_user = User("polpo-api-key", name="polpo API key")
                handler._token_authenticated = True
        return super().prepare(*args, **kwargs)  # type: ignore[misc]

    def set_cors_headers(self) -> None:
        super().set_cors_headers()  # type: ignore[misc]
        handler: Any = self
        if handler.settings.get("polpo_configured_cors_only") and not (handler.allow_origin or handler.allow_origin_pat):
            handler.clear_header("Access-Control-Allow-Origin")  # Jupyter's echo for token-authenticated requests

    def get_login_url(self) -> str:
        # an API never redirects to a login page: missing or wrong credentials are a 401
        raise web.HTTPError(401)

    @property
    def authenticated(self) -> bool:
        return getattr(self, "_jupyter_current_user", None) is not None

    def auth_failure(self, status: int) -> Failure | None:
        """A 401/403 of a request without valid credentials, saying which they lack; None otherwise."""
        if status not in (401, 403) or self.authenticated:
            return None
        request = self.request  # type: ignore[attr-defined]
        if request.headers.get("Authorization") or request.query_arguments.get("token"):
            code, message = "INVALID_API_KEY", "Invalid API key"
        else:
            code, message = "UNAUTHORIZED", "Missing credentials: send Authorization: Bearer <key>"
        return Failure(code, message, headers={"WWW-Authenticate": 'Bearer realm="polpo"'})
