"""Which `handler: module:function` strings an agent given as data may name.

An agent posted over HTTP, created by the chat orchestrator or written in a mission file is data, and
any process of the project imports its handler when the agent runs: `os:system` would turn a request
into a call of the standard library. So a handler given as data must live in a module of the project
directory (a `.py` file or a package at its root), or in a module the project config lists in
`agentHandlerModules`. The check reads the file system only: nothing is imported to decide.
`@project.agent` (a Python callable registered in-process) is code, not data, and is not limited.

The same holds for an agent's stdio MCP server (`mcpServers: {"x": {"command": ...}}`): the command is
started when the agent runs, so an agent given as data may only run a command the project config lists
in `mcpCommands` (`["npx", "uvx"]`, matched as written). Servers in the project config's own
`mcpServers` are the operator's and are not limited; HTTP and SSE servers start nothing here.
"""

from __future__ import annotations

import json
import site
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..spec import Agent
from ..spec.mcp import StdioMcpServer
from .function import is_project_module


def handler_refusal(handler: str, project_dir: Path, allowed_modules: Iterable[str] = ()) -> str | None:
    """Why an agent given as data may not name `handler` (None: it may)."""
    module = handler.partition(":")[0]
    if any(module == m or module.startswith(m + ".") for m in allowed_modules):
        return None
    top = module.split(".")[0]
    advice = ("put the function in a module of the project directory, list its module in agentHandlerModules "
              "of the project config, or register it from Python with @project.agent")
    if top in sys.stdlib_module_names or top in sys.builtin_module_names:
        return f"handler {handler!r} names {top!r}, a standard library module; {advice}"
    root = project_dir.resolve()
    if not is_project_module(top, root):
        return f"handler {handler!r} names {top!r}, which is not a module of the project directory; {advice}"
    loaded = getattr(sys.modules.get(top), "__file__", None)
    if loaded and _installed(Path(loaded)):  # the import would give the installed module, not the project's
        return f"handler {handler!r} names {top!r}, an installed package shadowing the project's module; {advice}"
    return None


def handler_problems(agents: Iterable[tuple[tuple[Any, ...], Agent]], project_dir: Path,
                     allowed_modules: Iterable[str] = (), *, mcp_commands: Iterable[str] = ()
                     ) -> list[dict[str, Any]]:
    """SpecError entries (`{loc, msg}`) for the agents, each given with its location, whose handler or
    stdio MCP command is refused."""
    allowed = list(allowed_modules)
    commands = set(mcp_commands)
    problems: list[dict[str, Any]] = []
    for loc, agent in agents:
        if agent.handler and (why := handler_refusal(agent.handler, project_dir, allowed)):
            problems.append({"loc": [*loc, "handler"], "msg": why})
        for name, server in (agent.mcp_servers or {}).items():
            if isinstance(server, StdioMcpServer) and server.command not in commands:
                problems.append({"loc": [*loc, "mcpServers", name, "command"], "msg": (
                    f"MCP server {name!r} runs {server.command!r}, which the project config does not list in "
                    f"mcpCommands; add it there (\"mcpCommands\": [{json.dumps(server.command)}]) or declare "
                    "the server in the config's mcpServers")})
    return problems


def _installed(path: Path) -> bool:
    places = {sys.prefix, sys.base_prefix, *site.getsitepackages(), site.getusersitepackages()}
    resolved = path.resolve()
    return any(resolved.is_relative_to(Path(p).resolve()) for p in places if p)
