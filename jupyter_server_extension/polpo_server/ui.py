"""The dashboard's static files: `{base_url}polpo/ui/` on Jupyter, `/ui/` on `polpo serve`.

The page is a few framework-free ES modules (`static/ui/`) plus the notebook widget's DAG renderer
(`polpo_nb/notebook/dag.js` and its stylesheet), served as they are: no build step, no CDN. It holds
no data and no logic beyond rendering; everything it shows or does goes through the public HTTP API.

Who may load it: where the server has a login page (Jupyter), the page sits behind it, as JupyterLab
does, and the API calls ride on the session cookie (+ `X-XSRFToken`). Where it has none (`polpo serve`,
an API-key server), the page is public: it carries nothing, asks for the key, and sends it as
`Authorization: Bearer` on every call (never in a URL).

Only the files named in `FILES` are served: a request cannot name any other path (`..`, encoded
slashes, absolute paths all miss the table and get a 404).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web
from tornado.httputil import url_concat

import polpo_nb

STATIC = Path(__file__).parent / "static" / "ui"
NOTEBOOK = Path(polpo_nb.__file__).parent / "notebook"  # files only: the notebook face is not imported
MIME = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
        ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png"}

#: The page's URL name -> the file it is (index.html answers the bare `ui/`).
FILES: dict[str, Path] = {
    **{p.name: p for p in sorted(STATIC.iterdir()) if p.suffix in MIME},
    "dag.js": NOTEBOOK / "dag.js",
    "widget.css": NOTEBOOK / "widget.css",
}

#: The page runs its own scripts and styles only, talks to its own origin only, and is never framed
#: by another site: a task title that slipped into markup still could not run.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'")


class UiHandler(ExtensionHandlerMixin, JupyterHandler):
    """GET one of `FILES`."""

    @property
    def content_security_policy(self) -> str:
        return CSP

    @allow_unauthenticated  # decided below: behind the login page where there is one
    async def get(self, name: str) -> None:
        if self.identity_provider.login_available and not self.current_user:
            # what @web.authenticated does, for a page that is public where no login page exists
            self.redirect(url_concat(self.get_login_url(), {"next": self.request.uri}))
            return
        path = FILES.get(name or "index.html")
        if path is None:
            raise web.HTTPError(404)
        if self.identity_provider.login_available:
            self.xsrf_token  # noqa: B018 - sets the `_xsrf` cookie the page echoes as X-XSRFToken
        body = path.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        self.set_header("Content-Type", MIME[path.suffix])
        self.set_header("Cache-Control", "no-cache")  # revalidated: an upgrade is seen at once
        self.set_header("ETag", etag)
        if self.check_etag_header():
            self.set_status(304)
            return
        await self.finish(body)

    def compute_etag(self) -> str | None:
        return None  # set above, from the file


class UiRedirectHandler(ExtensionHandlerMixin, JupyterHandler):
    """`ui` -> `ui/`, so the page's relative imports resolve under it."""

    @allow_unauthenticated
    def get(self) -> None:
        self.redirect(self.request.path + "/")


def ui_handlers(url_prefix: str) -> list[tuple[str, type, dict[str, Any]]]:
    """The dashboard's routes, relative to the server's base URL (the ExtensionApp joins it)."""
    prefix = url_prefix.strip("/")
    prefix = f"{prefix}/" if prefix else ""
    return [(f"{prefix}ui", UiRedirectHandler, {}), (f"{prefix}ui/(.*)", UiHandler, {})]


__all__ = ["FILES", "ui_handlers"]
