"""The project as an MCP server: the chat orchestrator's tool table (`chat/tools.py`) served over the
Model Context Protocol with the official SDK's low-level `Server`, so Claude Desktop, IDEs and other
agent hosts drive a project with the same tools, argument models and answers as the chat.

One table, three faces: `polpo mcp --project DIR` serves it on stdio (`serve_stdio`), the HTTP servers
mount it as streamable HTTP at `{base_url}polpo/mcp` (Jupyter) and `/mcp` (`polpo serve`, through
`http_session_manager`), and the orchestrator's own tool loop calls it directly.

- Schemas are the argument models' JSON schemas (camelCase, as over HTTP).
- A call that fails (invalid arguments, unknown id, illegal transition, unknown tool) is an MCP tool
  error (`isError: true`, the error as text), never a protocol failure: the client's model reads it.
- Long operations do not block: `execute_mission` answers at once with the run's id and status;
  `wait_for_mission` waits at most `timeoutSeconds` (the run goes on either way).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import anyio
from mcp import types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server

from . import __version__
from .chat.tools import TOOLS, render, run_tool, tool_by_name

if TYPE_CHECKING:
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

    from .project.aproject import AsyncProject

__all__ = ["build_server", "http_session_manager", "serve_stdio"]

ProjectSource = Callable[[], Awaitable["AsyncProject"]]
_INSTRUCTIONS = ("Tools over a polpo-nb project: missions (DAGs of tasks run by agents), tasks, agents, memory, "
                 "files and logs. execute_mission starts a run and answers at once; follow it with "
                 "wait_for_mission or get_status.")


def build_server(project: ProjectSource) -> Server[Any]:
    """A low-level MCP server answering `tools/list` and `tools/call` from the tool table; `project`
    gives the project to act on at each call (a server may reopen one it closed while idle)."""
    tools = [types.Tool(name=spec.name, description=spec.description, input_schema=spec.schema) for spec in TOOLS]

    async def list_tools(ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
                         ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools)

    async def call_tool(ctx: ServerRequestContext[Any], params: types.CallToolRequestParams) -> types.CallToolResult:
        try:
            spec = tool_by_name(params.name)
        except KeyError:
            return _answer({"ok": False, "error": f"unknown tool {params.name!r}", "code": "NOT_FOUND"}, False)
        value, ok = await run_tool(await project(), spec, params.arguments or {})
        return _answer(value, ok)

    return Server("polpo", version=__version__, instructions=_INSTRUCTIONS,
                  on_list_tools=list_tools, on_call_tool=call_tool)


def _answer(value: Any, ok: bool) -> types.CallToolResult:
    """The answer as the JSON text the chat's model reads (cut alike); an error is a tool error."""
    return types.CallToolResult(content=[types.TextContent(type="text", text=render(value))], is_error=not ok)


async def serve_stdio(path: str | Path, **project_options: Any) -> None:
    """`polpo mcp`: open the project (its engine runs on this loop) and serve it on stdin/stdout until
    the client closes the stream. Nothing else may write to stdout: the stream is the protocol's."""
    from mcp.server.stdio import stdio_server
    from mcp.shared.message import SessionMessage

    from .mcp_stdin import StrictLines, claimed_stdin, require_stdio
    from .project.aproject import AsyncProject

    require_stdio()  # before the project opens: its database could be given a free fd 0 or 1
    project = await AsyncProject.open(path, **project_options)
    try:
        async def current() -> AsyncProject:
            return project
        server = build_server(current)
        with claimed_stdin() as stdin:
            lines = StrictLines(anyio.wrap_file(stdin))
            # (the SDK iterates what it is given: a file's lines, or these)
            async with stdio_server(stdin=cast(Any, lines)) as (read, write):
                async def refuse(answer: dict[str, Any]) -> None:
                    await write.send(SessionMessage(types.jsonrpc_message_adapter.validate_python(answer)))
                lines.refuse = refuse
                await server.run(read, write, server.create_initialization_options())
    finally:
        await project.close()


def http_session_manager(project: ProjectSource) -> StreamableHTTPSessionManager:
    """The SDK's streamable-HTTP transport for the table, to mount behind a server's own authentication
    (its `run()` must be entered once, then `handle_request` is an ASGI app). Stateless with JSON answers:
    each call is one POST, no session to keep, since every state lives in the project."""
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
    from mcp.server.transport_security import TransportSecuritySettings

    # The host server already checks who calls and from where (tokens, CORS); the SDK's DNS-rebinding
    # guard would only refuse its real host names.
    return StreamableHTTPSessionManager(app=build_server(project), json_response=True, stateless=True,
                                        security_settings=TransportSecuritySettings(
                                            enable_dns_rebinding_protection=False))
