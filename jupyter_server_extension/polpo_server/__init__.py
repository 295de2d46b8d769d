"""polpo_server: the Jupyter server extension of polpo-nb, and `polpo serve`.

Installed with polpo-nb and enabled by default (`jupyter server extension list`). Its REST, SSE and
WebSocket routes live under `{base_url}polpo/`; `polpo serve` runs the same app headless at `/`.
"""

from __future__ import annotations

from typing import Any

from .app import PolpoServerApp

__all__ = ["PolpoServerApp", "get_app"]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    return [{"module": "polpo_server", "app": PolpoServerApp}]


def get_app(serverapp: Any) -> PolpoServerApp:
    """The running extension of a ServerApp (its project registry is `get_app(serverapp).registry`)."""
    return serverapp.web_app.settings[PolpoServerApp.name]
