"""The `polpo` command (Click + Rich): init, run, save, resume, missions, tasks, show, approve, reject,
abort, retry, logs, events, usage, serve, keys, mcp. `polpo --help` lists them with their exit codes."""

from __future__ import annotations

from . import deciding, keys, mcp_stdio, reading, running, scaffold, serving, usage  # noqa: F401 - each module registers its commands
from .app import cli, main

__all__ = ["cli", "main"]
