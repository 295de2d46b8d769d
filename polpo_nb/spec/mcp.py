"""MCP servers an LLM agent uses (`mcpServers`), in the shape other agent hosts (Claude Desktop, upstream
Polpo) read: name -> `{"command", "args", "env"}` (stdio, `"type": "stdio"` optional), `{"type": "http",
"url", "headers"}` (streamable HTTP) or `{"type": "sse", "url", "headers"}`.

Values of `env` and `headers` may reference environment variables (`"${GITHUB_TOKEN}"`,
`"${VAR:-default}"`), resolved when the server starts (`agents/mcp.py`), so a secret need never be written
in a mission file or the store. What the API answers redacts every literal value there (a reference is
shown as written: it names a variable, not its value); the store keeps what was written.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Discriminator, Field, SerializationInfo, Tag, field_serializer

from ._base import WireModel

__all__ = ["HttpMcpServer", "McpServer", "McpServers", "SseMcpServer", "StdioMcpServer", "is_reference"]

REDACTED = "[redacted]"
#: A server's name prefixes its tools' names when they collide, so it must fit in a tool name.
MCP_SERVER_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"
_REFERENCE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}$")


def is_reference(value: str) -> bool:
    """`${VAR}` or `${VAR:-default}` and nothing else: it names a variable, so showing it reveals nothing."""
    return bool(_REFERENCE.match(value))


def _redacted(values: dict[str, str], info: SerializationInfo) -> dict[str, str]:
    if isinstance(info.context, dict) and info.context.get("redact_secrets"):
        return {k: v if is_reference(v) else REDACTED for k, v in values.items()}
    return values


class StdioMcpServer(WireModel):
    """A server started as a subprocess for each attempt, spoken to over its stdin/stdout. Its environment
    is the MCP SDK's safe default (PATH, HOME, USER, ...) plus `env`: provider keys are not passed on."""

    type: Literal["stdio"] = "stdio"
    command: str = Field(min_length=1)
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict, description="Values may be `${VAR}` references.")
    cwd: str | None = Field(default=None, description="Working directory; default the project directory.")

    @field_serializer("env")
    def _env(self, env: dict[str, str], info: SerializationInfo) -> dict[str, str]:
        return _redacted(env, info)


class HttpMcpServer(WireModel):
    """A server reached over streamable HTTP."""

    type: Literal["http"]
    url: str = Field(pattern=r"^https?://")
    headers: dict[str, str] = Field(default_factory=dict, description="Values may be `${VAR}` references.")

    @field_serializer("headers")
    def _headers(self, headers: dict[str, str], info: SerializationInfo) -> dict[str, str]:
        return _redacted(headers, info)


class SseMcpServer(HttpMcpServer):
    """A server reached over the older HTTP+SSE transport."""

    type: Literal["sse"]  # type: ignore[assignment]


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        kind = value.get("type", "stdio")
        return kind if isinstance(kind, str) else ""
    return str(getattr(value, "type", ""))


McpServer = Annotated[
    Annotated[StdioMcpServer, Tag("stdio")] | Annotated[HttpMcpServer, Tag("http")]
    | Annotated[SseMcpServer, Tag("sse")],
    Discriminator(_kind, custom_error_type="mcp_server_type",
                  custom_error_message="type must be 'stdio' (the default), 'http' or 'sse'"),
]
def _server_name(name: str) -> str:
    if not re.match(MCP_SERVER_NAME_PATTERN, name):
        raise ValueError(f"{name!r} is not a server name: letters, digits, '_' and '-' (at most 32), "
                         "since it may prefix its tools' names")
    return name


#: name -> server
McpServers = dict[Annotated[str, AfterValidator(_server_name)], McpServer]
