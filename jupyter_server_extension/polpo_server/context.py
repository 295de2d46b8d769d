"""What the handlers and the route table use of the server extension, as a protocol.

`PolpoServerApp` (app.py) mounts the handlers, so they must not import it back: they and the route
table see the app through this interface, and app.py stays the one module that knows them all.
"""

from __future__ import annotations

from typing import Any, Protocol

from .cache import RenderCache
from .keyauth import KeyGate
from .projects import ProjectRegistry


class ServerContext(Protocol):
    """The running extension, as a request sees it."""

    registry: ProjectRegistry
    streams: set[Any]
    render_cache: RenderCache
    key_gate: KeyGate

    @property
    def api_key(self) -> str:
        """A key accepted as `Authorization: Bearer <key>` besides the server's token ('' for none)."""
        ...

    @property
    def sse_keepalive(self) -> float:
        """Seconds between keep-alive comments on idle SSE streams."""
        ...

    @property
    def version(self) -> str:
        ...

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI document of the routes as mounted."""
        ...
