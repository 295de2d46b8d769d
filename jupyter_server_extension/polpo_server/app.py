"""The Jupyter server extension: configuration as traits, the project registry, the route table.

    c.PolpoServerApp.url_prefix = "polpo"            # routes under {base_url}polpo/
    c.PolpoServerApp.projects_root = "/data/work"    # default: the server's root_dir
    c.PolpoServerApp.default_model = "anthropic:claude-sonnet-4-5"

Projects' engines run on the server's event loop: the default project opens in
`_start_jupyter_server_extension` (others on first use), a project nothing uses closes after
`idle_close` seconds, and all close in `stop_extension`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Float, Int, Unicode

import polpo_nb
from polpo_nb.project.config import POLPO_DIR

from . import redact
from .cache import RenderCache
from .handlers import build_handlers
from .keyauth import KeyGate, Limits
from .mcp import mcp_handlers, stop_mcp
from .openapi import build_openapi
from .projects import ProjectRegistry
from .ui import ui_handlers

#: ProjectConfig keys the server supplies when a project's own config leaves them unset.
CONFIG_DEFAULTS = ("default_model", "judge_model", "orchestrator_model", "executor", "dask_scheduler")


class PolpoServerApp(ExtensionApp):
    name = "polpo_server"
    description = "polpo-nb: REST, SSE and WebSocket API over the projects below the server's root"
    load_other_extensions = True

    url_prefix = Unicode("polpo", config=True, help="Routes live under {base_url}{url_prefix}/ ('' for the root).")
    projects_root = Unicode("", config=True, help="Where projects are found; default: the server's root_dir.")
    default_project = Unicode("", config=True, help="The flat API's project, relative to projects_root; default: the root.")
    max_depth = Int(3, config=True, help="How deep below projects_root to look for directories with a .polpo/ folder.")
    api_key = Unicode("", config=True, help="A key also accepted as `Authorization: Bearer <key>` on polpo routes "
                                            "(besides the server's own token).")
    executor = Unicode(None, allow_none=True, config=True,
                       help="Where task bodies run ('inprocess' or 'dask'), unless the project's config says.")
    dask_scheduler = Unicode(None, allow_none=True, config=True,
                             help="Scheduler address for executor 'dask', unless the project's config names one.")
    default_model = Unicode(None, allow_none=True, config=True, help="Model of agents that name none, unless the project's config does.")
    judge_model = Unicode(None, allow_none=True, config=True, help="The LLM judge's model, unless the project's config names one.")
    orchestrator_model = Unicode(None, allow_none=True, config=True, help="The chat orchestrator's model, unless the project's config names one.")
    requests_per_minute = Int(0, config=True, help="Requests a minute per key, where a project's config sets no "
                                                   "`rateLimits.requestsPerMinute` (0: no limit; `polpo serve`: 1200).")
    concurrent_streams = Int(0, config=True, help="SSE/WebSocket streams open at once per key, where a project's "
                                                  "config sets no `rateLimits.concurrentStreams` (0: no limit; "
                                                  "`polpo serve`: 32).")
    sse_keepalive = Float(15.0, config=True, help="Seconds between keep-alive comments on idle SSE streams.")
    idle_close = Float(600.0, config=True, help="Close a project no request has used for this many seconds and "
                                                "that has no run, event subscriber or schedule (0: never).")

    registry: ProjectRegistry
    streams: set[Any]
    render_cache: RenderCache
    key_gate: KeyGate
    version = polpo_nb.__version__

    def initialize_settings(self) -> None:
        assert self.serverapp is not None  # set by jupyter_server before initialize_settings
        root = self.projects_root or self.serverapp.root_dir
        self.registry = ProjectRegistry(root, default=self.default_project, max_depth=self.max_depth,
                                        config=self._project_defaults)
        self.streams = set()
        self.render_cache = RenderCache()
        self.key_gate = KeyGate(self.registry, Limits(self.requests_per_minute, self.concurrent_streams))
        self._closer: asyncio.Task[None] | None = None
        self._openapi: dict[str, Any] | None = None
        redact.install([self.log, *([self.serverapp.log] if self.serverapp else [])])  # no key or token from a query string in any log line
        self.log.info("polpo: serving projects below %s at %s", self.registry.root, self.api_url)

    def initialize_handlers(self) -> None:
        self.handlers.extend(build_handlers(self.url_prefix) + ui_handlers(self.url_prefix)
                             + mcp_handlers(self.url_prefix))

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        """Start the default project's engine and event tail on the server's loop, so its scheduled
        missions run and its events stream from the start. A root that is not a project yet (no
        `.polpo/`) is left untouched until a request uses it: installing polpo-nb must not litter
        every directory a Jupyter server is started in."""
        if self.idle_close > 0:
            self._closer = asyncio.create_task(self.registry.close_idle_forever(self.idle_close))
        if not (self.registry.default_path / POLPO_DIR).is_dir():
            self.log.info("polpo: %s has no %s/ yet; it opens on first use", self.registry.default_path, POLPO_DIR)
            return
        try:
            project = await self.registry.default()
            self.log.info("polpo: default project %r is open (engine and event tail running)", project.id)
        except Exception:  # noqa: BLE001 - a broken project must not keep the server down; requests will say why
            self.log.exception("polpo: could not open the default project %s", self.registry.default_path)

    async def stop_extension(self) -> None:
        if self._closer is not None:
            self._closer.cancel()
        for stream in list(self.streams):
            stream.close_stream()
        await stop_mcp(self)
        await self.registry.close()
        self.key_gate.close()

    # -- helpers ---------------------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        base = self.serverapp.base_url if self.serverapp else "/"
        prefix = self.url_prefix.strip("/")
        return base + (prefix + "/" if prefix else "")

    def openapi(self) -> dict[str, Any]:
        if self._openapi is None:
            self._openapi = build_openapi(self.api_url, self.version)
        return self._openapi

    def _project_defaults(self, path: Path) -> dict[str, Any]:
        """The server's settings, for what a project's config file leaves unset (the file wins, also
        when it is edited while the project is open)."""
        return {key: getattr(self, key) for key in CONFIG_DEFAULTS if getattr(self, key)}
