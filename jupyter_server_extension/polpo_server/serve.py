"""`polpo serve`: the same extension, headless, with its routes at `/` and an API key.

    polpo serve --port 3000 --api-key KEY [--project DIR] [--host 127.0.0.1] [--cors-origin URL ...]

Why a real ServerApp rather than a bare tornado Application: the handlers are JupyterHandlers, and a
ServerApp gives them everything they rely on (identity provider, authorizer, XSRF and origin rules,
the event loop's start-up hooks that open the default project, clean shutdown of the extension) with
no second code path to keep in step. What makes it headless is what it leaves out: no kernels,
contents, terminals, notebook UI or other extensions (`default_services = ()`, extension discovery
off), and an identity provider that accepts the API key alone — `Authorization: Bearer KEY`, or
`?token=KEY` for the browser's EventSource and WebSocket, which cannot send headers.

Two things differ from a Jupyter server on purpose: a path outside the API answers 401 or 404 as
JSON (there is no login page to redirect to), and no `Access-Control-Allow-Origin` is sent unless
origins were configured (`cors_origins`), where Jupyter allows any origin to a token-authenticated
request.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jupyter_server.auth import User
from jupyter_server.auth.identity import IdentityProvider
from jupyter_server.serverapp import ServerApp
from jupyter_server.utils import url_path_join
from traitlets import Unicode, default
from traitlets.config import Config

from polpo_nb.errors import SpecError

from .auth import bearer_token
from .dialects import FLAT, PROJECT
from .route_handler import NotFoundHandler

SERVE_REQUESTS_PER_MINUTE = 1200
SERVE_CONCURRENT_STREAMS = 32


class ApiKeyIdentityProvider(IdentityProvider):
    """Every request carries the key; no cookies, no login page. Without a key, requests are
    anonymous (for a server bound to the loopback interface)."""

    api_key = Unicode("", config=True, help="The key every request must present.")

    @default("token")
    def _token_default(self) -> str:
        return ""

    def get_user(self, handler: Any) -> User | None:
        user = getattr(handler, "_jupyter_current_user", None)
        if user:
            return user
        if not self.api_key:
            return User("local", name="local")
        presented = bearer_token(handler.request)
        if presented and hmac.compare_digest(presented.encode(), self.api_key.encode()):
            handler._token_authenticated = True
            return User("api-key", name="API key")
        return None

    @property
    def auth_enabled(self) -> bool:
        return bool(self.api_key)

    @property
    def login_available(self) -> bool:
        return False

    def get_handlers(self) -> list[tuple[str, object]]:
        return []

    def is_token_authenticated(self, handler: Any) -> bool:
        return bool(getattr(handler, "_token_authenticated", False))

    def validate_security(self, app: Any, ssl_options: dict[str, Any] | None = None) -> None:
        check_exposure(app.ip, self.api_key)


def check_exposure(host: str, api_key: str | None) -> None:
    """Key-less is for loopback only (as seed 000's `polpo serve` without `--api-key`): anyone who can
    reach an open server controls the project, so another interface needs a key."""
    if not api_key and not _is_loopback(host):
        raise SpecError([{"loc": ["--api-key"], "msg": f"refusing to listen on {host} without an API key: anyone "
                          "who could reach it would control the project; pass --api-key KEY (or set "
                          "POLPO_API_KEY), or bind 127.0.0.1"}])


def _is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class PolpoServe(ServerApp):
    """A ServerApp with polpo's routes only."""

    name = "polpo-serve"
    description = "polpo serve: the polpo REST/SSE/WebSocket API of one project directory"
    default_services = ()  # type: ignore[assignment]  # jupyter_server types it as its own full tuple

    def _handle_sigint(self, sig: Any, frame: Any) -> None:  # no "Shutdown this server (y/[n])?" prompt
        self._signal_stop(sig, frame)

    def init_webapp(self) -> None:
        """Every path that is not the API gets the API's 404 (401 without the key) as JSON, instead
        of Jupyter's handlers, which redirect an unauthenticated GET to a login page serve has not."""
        super().init_webapp()
        outside = r"(?!(?:api/)?v1(?:/|$))"
        api = url_path_join(self.base_url, outside + r"api(?:/.*)?")
        rest = url_path_join(self.base_url, outside + r"(?!api(?:/|$)|ui(?:/|$)|mcp$).*")  # ui/: the dashboard (ui.py), mcp: mcp.py
        # add_handlers puts these before the server's own rules; the API's paths fall through to those
        self.web_app.add_handlers(".*$", [(api, NotFoundHandler, {"name": "polpo_server", "dialect": PROJECT}),
                                          (rest, NotFoundHandler, {"name": "polpo_server", "dialect": FLAT})])


def cors_settings(origins: Sequence[str]) -> dict[str, Any]:
    """ServerApp's CORS traits for `--cors-origin` values: `*` (any origin), one origin, or several
    (as Jupyter's `allow_origin_pat`, matched whole)."""
    origins = [o.strip().rstrip("/") for o in origins if o.strip()]
    if not origins:
        return {}
    if "*" in origins:
        return {"allow_origin": "*"}
    if len(origins) == 1:
        return {"allow_origin": origins[0]}
    return {"allow_origin_pat": "^(?:" + "|".join(re.escape(o) for o in origins) + ")$"}


def serve_config(*, port: int, host: str, project: str, api_key: str | None, cors_origins: Sequence[str] = ()) -> Config:
    return Config({
        "ServerApp": {
            "port": port, "port_retries": 0, "ip": host, "open_browser": False, "root_dir": project,
            "base_url": "/", "allow_root": True, "allow_unauthenticated_access": False,
            "jpserver_extensions": {"polpo_server": True},
            "identity_provider_class": ApiKeyIdentityProvider,
            # an open (key-less) loopback server has no token to prove a request is not forged: the
            # origin check of every API handler still refuses cross-site requests
            "disable_check_xsrf": not api_key,
            # Jupyter answers local host names only, against DNS rebinding (a page of another site reaching
            # a loopback server through its own name): a server with a key needs no such guard, and is then
            # reachable behind a reverse proxy that forwards its own Host
            "allow_remote_access": bool(api_key),
            # Jupyter lets any origin read a token-authenticated answer; serve only the configured ones
            "tornado_settings": {"polpo_configured_cors_only": True},
            **cors_settings(cors_origins),
        },
        "ApiKeyIdentityProvider": {"api_key": api_key or ""},
        "ContentsManager": {"files_handler_class": None},
        # generous per-key limits (a project's `rateLimits` changes them); a Jupyter server has none unless configured
        "PolpoServerApp": {"url_prefix": "", "requests_per_minute": SERVE_REQUESTS_PER_MINUTE,
                           "concurrent_streams": SERVE_CONCURRENT_STREAMS},
    })


def serve(*, port: int = 3000, host: str = "127.0.0.1", project: str = ".", api_key: str | None = None,
          cors_origins: Sequence[str] = ()) -> None:
    """Run until SIGINT/SIGTERM. `cors_origins`: the origins (`https://app.example`, or `*`) whose
    pages may read the answers; none by default."""
    check_exposure(host, api_key)
    root = str(Path(project).resolve())
    app = PolpoServe(config=serve_config(port=port, host=host, project=root, api_key=api_key,
                                         cors_origins=cors_origins))
    app.initialize(argv=[], find_extensions=False)
    url = f"http://{host}:{port}/api/v1/projects"
    print(f"polpo serve: {app.root_dir} on {url} ({'API key required' if api_key else 'no API key'})",
          file=sys.stderr, flush=True)
    app.start()
