"""Who may call the API: the server's own authentication, plus the extension's API key and the
projects' API keys (keyauth.py decides what each may do, and counts its requests).

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

from . import keyauth
from .failures import Failure, Refusal
from .keyauth import KeyGate, Principal

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

    #: who this request is (set in `prepare` once the request is authenticated); None: nobody
    principal: Principal | None = None
    #: (limiter, who) of the stream slot this request holds, released when it ends
    stream_slot: tuple[Any, Any] | None = None

    @property
    def key_gate(self) -> KeyGate:
        raise NotImplementedError

    def target(self) -> tuple[bool, str | None]:
        """(whether the request is about one project, its id or None for the default project)."""
        return False, None

    def administers_keys(self) -> bool:
        return False

    #: whether what a test key starts here runs dry (the route handlers do, in dryrun.scope)
    runs_dry = True

    def opens_stream(self) -> bool:
        """Whether this request holds a stream open (SSE, WebSocket): it takes a stream slot."""
        return False

    async def prepare(self, *args: Any, **kwargs: Any) -> None:
        # The extension's own key (c.PolpoServerApp.api_key) and the project keys are accepted besides the
        # server's token. The identity providers of jupyter_server (and `polpo serve`'s) honour a user set
        # before prepare(); keyauth.py decides the rest for every verb.
        handler: Any = self  # a JupyterHandler: the user and token flags are its own
        preflight = handler.request.method == "OPTIONS"
        presented = bearer_token(handler.request)
        key = self.accepted_key()
        if (key and presented and getattr(handler, "_jupyter_current_user", None) is None
                and hmac.compare_digest(presented.encode(), key.encode())):
            handler._jupyter_current_user = User("polpo-api-key", name="polpo API key")
            handler._token_authenticated = True
        principal = None if preflight else await keyauth.recognise(handler, self.key_gate, presented)
        result = super().prepare(*args, **kwargs)  # type: ignore[misc]
        if result is not None:
            await result
        principal = None if preflight else keyauth.classify(handler, principal)
        if principal is None:
            return  # the verbs' decorators answer 401
        self.principal = principal
        try:
            headers = await keyauth.admit(handler, self.key_gate, principal, presented=presented, target=self.target(),
                                          admin=self.administers_keys(), stream=self.opens_stream(),
                                          dry_runs=self.runs_dry)
        except Failure as failure:
            raise Refusal(failure) from None
        for name, value in headers.items():
            handler.set_header(name, value)

    def key_still_valid(self) -> bool:
        """For a stream held open, before each event: whether its key is still active (revoked, by the
        API or by `polpo keys` in another process, the stream ends). One `PRAGMA data_version` while the
        keys do not change."""
        return self.principal is None or self.key_gate.still_valid(self.principal)

    def release_stream(self) -> None:
        if self.stream_slot is not None:
            limiter, who = self.stream_slot
            self.stream_slot = None
            limiter.close_stream(who)

    def on_finish(self) -> None:
        handler: Any = self
        if handler.get_status() != 101:  # an accepted WebSocket holds its slot until it closes
            self.release_stream()
        super().on_finish()  # type: ignore[misc]

    def on_connection_close(self) -> None:
        self.release_stream()
        super().on_connection_close()  # type: ignore[misc]

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
        if status == 403 and not self.check_host():  # type: ignore[attr-defined]  # JupyterHandler's
            return Failure("FORBIDDEN", f"Requests with Host {request.host!r} are refused: a server answers local "
                                        "host names only unless it has credentials (polpo serve --api-key; on "
                                        "Jupyter, ServerApp.allow_remote_access or local_hostnames)")
        if request.headers.get("Authorization") or request.query_arguments.get("token"):
            code, message = "INVALID_API_KEY", "Invalid API key"
        else:
            code, message = "UNAUTHORIZED", "Missing credentials: send Authorization: Bearer <key>"
        return Failure(code, message, headers={"WWW-Authenticate": 'Bearer realm="polpo"'})
