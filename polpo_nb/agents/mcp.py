"""MCP servers as toolsets of an LLM agent: pydantic-ai's `MCPToolset` (over the official `mcp` SDK,
through FastMCP's client transports), started for one attempt and stopped when it ends.

**One attempt, one set of servers.** The servers are started when the attempt's tool loop starts and
stopped when it ends, however it ends (done, failed, killed, timed out, mission aborted: the attempt's
task is cancelled and the `async with` below closes them; a stdio server's process is waited for, then
terminated). Per attempt rather than per run because the attempt is the unit that runs somewhere: on
Dask the tool loop runs on a worker, so the servers must start there, next to it; and the attempt is
the unit that is cancelled, so its servers cannot outlive it. A server also keeps no state from one
task to the next. The price is a start per attempt (a few hundred milliseconds for a small server).

**Names.** A server's tools keep their names unless one collides with a built-in tool or with another
server's tool: then it is offered as `<server>_<tool>` (and the transcript says so). `allowedTools`
names them as offered.

**Secrets.** `${VAR}` / `${VAR:-default}` in `env` and `headers` are resolved here, from the environment
of the process running the attempt (a Dask worker's own), and go only to the server: they are never
logged, put in events or answered by the API. A stdio server gets the SDK's safe default environment
(PATH, HOME, USER, ...) plus its `env`, not the provider keys of this process.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic_ai import RunContext
from pydantic_ai.exceptions import ModelRetry, ToolFailed
from pydantic_ai.tools import ToolDefinition
from pydantic_ai.toolsets import AbstractToolset, WrapperToolset
from pydantic_ai.toolsets.abstract import ToolsetTool

from ..errors import PolpoError
from ..spec import ProjectConfig
from ..spec.mcp import HttpMcpServer, McpServer, SseMcpServer, StdioMcpServer
from .context import AgentContext
from .mcp_processes import TOKEN_ENV, end_groups, new_token, server_group
from .tools import ALL_TOOLS, Workspace, tool_names

__all__ = ["McpServerError", "McpTools", "agent_servers", "check_references", "describe", "mcp_tools",
           "resolve_references"]

#: Seconds a server has to start and answer `initialize` / `tools/list`.
START_TIMEOUT = 30.0
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class McpServerError(PolpoError):
    """An MCP server did not start or did not answer (or the agent names tools no one offers): the
    attempt fails with the server (or the tool) named."""


def agent_servers(config: ProjectConfig, own: dict[str, McpServer] | None) -> dict[str, McpServer]:
    """The servers an LLM agent gets: the project's `mcpServers` and its own (which win on a name)."""
    return {**config.mcp_servers, **(own or {})}


def check_references(servers: dict[str, McpServer]) -> None:
    """Every `${VAR}` of the servers' env and headers can be resolved here (McpServerError naming the
    first that cannot, with `env` in its details); the values are read and dropped."""
    for name, server in servers.items():
        values = server.env if isinstance(server, StdioMcpServer) else server.headers
        resolve_references(values, f"MCP server {name!r}")


def describe(server: McpServer) -> str:
    """What a user recognises a server by: its command line or its URL (never its env or headers)."""
    if isinstance(server, StdioMcpServer):
        return shlex.join([server.command, *server.args])
    return f"{server.type} {server.url}"


def resolve_references(values: dict[str, str], where: str) -> dict[str, str]:
    """`${VAR}` and `${VAR:-default}` replaced from the environment; a variable that is not set and has no
    default raises McpServerError naming it (never a value)."""
    def one(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = os.environ.get(name)
        if value is None:
            if default is None:
                raise McpServerError(f"{where}: environment variable {name} is not set", env=name)
            return default
        return value
    return {key: _REFERENCE.sub(one, value) for key, value in values.items()}


def _toolset(name: str, server: McpServer, root: Path, token: str | None) -> AbstractToolset[Workspace]:
    """`token`: for a stdio server, what its environment carries so that its process is found
    (`mcp_processes.server_group`)."""
    from fastmcp.client.transports import SSETransport, StdioTransport, StreamableHttpTransport
    from pydantic_ai.mcp import MCPToolset

    where = f"MCP server {name!r}"
    transport: Any
    if isinstance(server, StdioMcpServer):
        cwd = root / server.cwd if server.cwd else root
        env = {**resolve_references(server.env, where), **({TOKEN_ENV: token} if token else {})}
        transport = StdioTransport(server.command, list(server.args), env=env, cwd=str(cwd), keep_alive=False)
    elif isinstance(server, SseMcpServer):
        transport = SSETransport(server.url, headers=resolve_references(server.headers, where))
    else:
        assert isinstance(server, HttpMcpServer)
        transport = StreamableHttpTransport(server.url, headers=resolve_references(server.headers, where))
    # 'failed': a tool's error is answered to the model (as our built-in tools' are), not retried blindly
    return MCPToolset(transport, id=name, tool_error_behavior="failed", init_timeout=START_TIMEOUT)


#: The longest answer of an MCP tool the model gets, as a built-in `read_file`'s.
MAX_ANSWER_CHARS = 100_000


@dataclass
class _Reported(WrapperToolset[Workspace]):
    """Every call to a server's tool reported like a built-in tool's: `toolCalls`, `task:tool_use`, log.

    A server that goes away in a call (its process died, its connection closed) fails the attempt,
    naming it: answered to the model as the tool's error, it left the model to carry on around a server
    whose every tool is gone, and the attempt to pass without it. Failed, it is retried with the server
    started again, as one that does not start is."""

    where: str = ""  # `MCP server 'name' (command)`

    async def call_tool(self, name: str, tool_args: dict[str, Any], ctx: RunContext[Workspace],
                        tool: ToolsetTool[Workspace]) -> Any:
        try:
            result = await self.wrapped.call_tool(name, tool_args, ctx, tool)
        except (ToolFailed, ModelRetry) as exc:
            ctx.deps.record_call(name, tool_args, f"error: {exc.message}", False)
            if _connection_closed(exc.__cause__):
                raise McpServerError(f"{self.where} stopped during a call to its tool {name!r} "
                                     f"(the connection closed: its process exited or crashed)") from None
            raise
        answer = result if isinstance(result, str) else _text(result)
        if len(answer) > MAX_ANSWER_CHARS:  # it reaches the model, and the steps sent again at every turn
            result = answer = (answer[:MAX_ANSWER_CHARS]
                               + f"\n...[truncated: the tool answered {len(answer):,} characters]")
        ctx.deps.record_call(name, tool_args, answer, True)
        return result


def _connection_closed(exc: BaseException | None) -> bool:
    """The MCP SDK's answer to a call whose server went away (code CONNECTION_CLOSED), grouped or not."""
    from mcp.types import CONNECTION_CLOSED

    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    error = getattr(exc, "error", None)
    return getattr(error, "code", None) == CONNECTION_CLOSED


def _text(value: Any) -> str:
    try:
        return json.dumps(value, default=str)
    except ValueError:
        return str(value)


@dataclass
class McpTools:
    """The toolsets of an attempt's servers (connected), the tool names they offer the model, and the
    built-in tools the agent gets beside them (its `allowedTools` split in two)."""

    toolsets: list[AbstractToolset[Workspace]] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    builtin: list[str] = field(default_factory=list)


@asynccontextmanager
async def mcp_tools(ctx: AgentContext, servers: dict[str, McpServer], root: Path,
                    project_tools: list[str] | None) -> AsyncIterator[McpTools]:
    """Start `servers`, list their tools, and yield them as toolsets filtered by the agent's
    `allowedTools`; every server is stopped on exit, also when the attempt is cancelled, and so is what
    a stdio server started (`mcp_processes`)."""
    async with AsyncExitStack() as stack:
        listed: dict[str, tuple[AbstractToolset[Workspace], list[str]]] = {}
        named = {name: f"MCP server {name!r} ({describe(server)})" for name, server in servers.items()}
        for name, server in servers.items():
            where = named[name]
            token = new_token() if isinstance(server, StdioMcpServer) else None
            toolset = _toolset(name, server, root, token)
            groups: list[int] = []  # its process group, once found
            stack.callback(end_groups, groups)  # runs after the server's own stop (the stack unwinds in reverse)
            try:
                await stack.enter_async_context(toolset)
                group = server_group(token) if token else None
                if group is not None:
                    groups.append(group)
                tools = await toolset.list_tools()  # type: ignore[attr-defined]
            except McpServerError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure to start is the attempt's error, named
                raise McpServerError(f"{where} did not start: {_reason(exc)}") from None
            listed[name] = (toolset, [t.name for t in tools])
            ctx.log(f"[mcp] {name}: started {describe(server)}; tools: {', '.join(listed[name][1]) or '(none)'}")

        offered = _offered_names(listed)
        for owner, renames in offered.items():
            for shown, original in renames.items():
                if shown != original:
                    ctx.log(f"[mcp] {owner}: tool {original!r} is offered as {shown!r} (its name is taken)")
        all_names = [shown for renames in offered.values() for shown in renames]
        try:
            allowed = tool_names(ctx.agent.allowed_tools, project_tools, all_names)
        except ValueError as exc:
            raise McpServerError(f"agent {ctx.agent.name!r}: {exc}") from None
        result = McpTools(builtin=[n for n in allowed if n in ALL_TOOLS])
        for owner, (toolset, _) in listed.items():
            renames = offered[owner]
            shaped: AbstractToolset[Workspace] = toolset
            if any(shown != original for shown, original in renames.items()):
                shaped = shaped.renamed({s: o for s, o in renames.items() if s != o})
            kept = {shown for shown in renames if shown in allowed}
            shaped = shaped.filtered(_keeping(kept))
            result.toolsets.append(_Reported(shaped, where=named[owner]))
            result.names.extend(sorted(kept))
        yield result


def _keeping(names: set[str]) -> Callable[[RunContext[Workspace], ToolDefinition], bool]:
    return lambda _ctx, tool_def: tool_def.name in names


def _offered_names(listed: dict[str, tuple[Any, list[str]]]) -> dict[str, dict[str, str]]:
    """server -> {offered name: the server's name}: `<server>_<tool>` where a name is built-in or shared,
    prefixed again while that name is taken too (a server may offer `<server>_<tool>` itself): no tool
    hides another."""
    count: dict[str, int] = {}
    for _, names in listed.values():
        for tool in names:
            count[tool] = count.get(tool, 0) + 1
    taken = set(ALL_TOOLS) | {tool for tool, n in count.items() if n == 1}
    offered: dict[str, dict[str, str]] = {}
    for server, (_, names) in listed.items():
        mine = offered[server] = {}
        for tool in names:
            if tool not in ALL_TOOLS and count[tool] == 1:
                mine[tool] = tool
                continue
            name = f"{server}_{tool}"
            while name in taken:
                name = f"{server}_{name}"
            taken.add(name)
            mine[name] = tool
    return offered


def _reason(exc: BaseException) -> str:
    """The innermost useful message of an exception (anyio wraps transport failures in groups)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc).strip() or type(exc).__name__
    return text if type(exc).__name__ in text else f"{type(exc).__name__}: {text}"

