"""The lines `polpo mcp` reads on stdin, each held to the JSON every HTTP body is held to.

The `mcp` SDK's stdio transport parses each line itself, leniently: a key given twice in one object
keeps its last value (so a client and the server could read two different requests in one line),
and a line that is not JSON at all goes unanswered. Here each line is first read by the server's own
parser (`spec.jsonbody`, as `/mcp` over HTTP does): a line it refuses is answered with JSON-RPC's parse
error (-32700, the `id` null: a line that does not parse has no id to trust), as `/mcp` answers such a
body, and never reaches the SDK; the others go on to it unchanged.

While it serves, fd 0 points at the null device and the protocol is read from a private duplicate of
it: a child process (an agent's MCP server, a script check) that inherits stdin reads nothing of the
protocol. The SDK does the same when it reads stdin itself; given a stream, it leaves fd 0 alone.
A process started with stdin or stdout closed is refused before the project opens (`require_stdio`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

import anyio

from .errors import PolpoError, SpecError
from .spec import jsonbody

#: JSON-RPC's code for a message that is not JSON
PARSE_ERROR = -32700


def parse_error(exc: SpecError) -> dict[str, Any]:
    """The answer to a message `jsonbody` refused, on stdio and over HTTP (`/mcp`) alike: JSON-RPC's
    parse error, its `id` null (a message that does not parse has no id to trust)."""
    return {"jsonrpc": "2.0", "id": None, "error": {"code": PARSE_ERROR, "message": f"Parse error: {exc.message}"}}


#: How a refused line is answered: the SDK's write stream, known once it exists
Refuse = Callable[[dict[str, Any]], Awaitable[None]]


class StrictLines:
    """An async iterator of stdin's lines as text, for the SDK's `stdio_server(stdin=...)`: the lines
    `jsonbody` refuses are answered through `refuse` (set once the SDK's write stream exists) and
    skipped. Bytes that are not UTF-8 are refused too, where a text stream would replace them."""

    def __init__(self, source: anyio.AsyncFile[bytes]) -> None:
        self._source = source
        self.refuse: Refuse | None = None

    def __aiter__(self) -> AsyncIterator[str]:
        return self._lines()

    async def _lines(self) -> AsyncIterator[str]:
        async for raw in self._source:
            if not raw.strip():
                continue  # a stray newline between messages carries none: nothing to answer
            try:
                jsonbody.loads(raw, "message")
            except SpecError as exc:
                await self._refused(exc)
                continue
            yield raw.decode("utf-8")

    async def _refused(self, exc: SpecError) -> None:
        if self.refuse is None:  # (the SDK reads only once it has made its streams)
            raise RuntimeError("StrictLines.refuse is not set")
        await self.refuse(parse_error(exc))


class StdioClosedError(PolpoError):
    """The process has no stdin or no stdout (closed, not a pipe): there is no protocol to read or answer."""

    def __init__(self, stream: str) -> None:
        super().__init__(f"{stream} is closed, and `polpo mcp` speaks the Model Context Protocol on stdin and stdout: "
                         "start it from an MCP client (Claude Desktop, an IDE), which gives it pipes")


def require_stdio() -> None:
    """StdioClosedError unless fds 0 and 1 are this process's stdin and stdout. Checked before anything
    is opened: with one of them free, the next file opened (the project's database) would be given it,
    and taken for the protocol's stream."""
    _require(0, "stdin")
    _require(1, "stdout")


def _require(fd: int, name: str) -> None:
    try:
        is_open = getattr(sys, name).fileno() == fd
    except (AttributeError, OSError, ValueError):  # None (closed at start-up), or not a file
        is_open = False
    if not is_open:
        raise StdioClosedError(name)


@contextmanager
def claimed_stdin() -> Iterator[BinaryIO]:
    """fd 0's bytes, from a private duplicate while fd 0 reads the null device; fd 0 is restored at
    exit. The duplicate is never closed: a worker thread may still be blocked reading it when the
    transport ends, and a closed descriptor's number could be given to another file under it."""
    _require(0, "stdin")
    private = os.dup(0)
    null = os.open(os.devnull, os.O_RDONLY)
    try:
        os.dup2(null, 0)
    finally:
        os.close(null)
    try:
        yield os.fdopen(private, "rb", buffering=0, closefd=False)
    finally:
        os.dup2(private, 0)
