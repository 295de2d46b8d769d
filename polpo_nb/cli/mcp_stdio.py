"""`polpo mcp`: the project as an MCP server on stdin/stdout, for Claude Desktop, IDEs and agent hosts."""

from __future__ import annotations

import asyncio

from .app import CLOSED_AT_START, cli
from .exits import OK, UserError
from .options import project_option


@cli.command(short_help="Serve the project's tools over MCP (stdio).")
@project_option
def mcp(project_dir: str) -> int:
    """Serve the project over the Model Context Protocol on stdin/stdout until the client closes it: the
    chat orchestrator's tools (missions, tasks, agents, memory, files, logs). Point an MCP client at
    `polpo mcp --project DIR`; stdout carries only the protocol (messages go to stderr)."""
    from ..mcp_server import serve_stdio
    from ..mcp_stdin import StdioClosedError

    closed = [name for name in ("stdin", "stdout") if name in CLOSED_AT_START]
    if closed:  # (given /dev/null since: the protocol would read nothing, its answers would go nowhere)
        raise UserError(StdioClosedError(closed[0]).message)
    try:
        asyncio.run(serve_stdio(project_dir))  # the command's own loop: the engine runs on it
    except StdioClosedError as exc:
        raise UserError(exc.message) from None
    return OK
