"""What a stdio MCP server leaves running: the processes it started, ended with the attempt.

The SDK starts a stdio server in a session of its own (its pid is its process group's id) and stops it
by closing its stdin; it kills the group only when the server does not exit by itself in time. A server
that does exit by itself left what it had started (a browser, a language server, a `sleep`) running,
orphaned, after the attempt that needed it. So once the server is stopped its group is ended too:
SIGTERM, then SIGKILL for what is left after a grace period. A process that left the group on purpose
(a daemon, by `setsid`) is out of reach, as it is for the SDK.

The transport does not tell the server's pid, so the server is found among this process's children by
a token in its environment (`POLPO_MCP_SERVER`), which tells it apart from the servers of attempts
running beside it.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
from contextlib import suppress

import psutil

__all__ = ["GRACE_SECONDS", "TOKEN_ENV", "end_groups", "new_token", "server_group"]

TOKEN_ENV = "POLPO_MCP_SERVER"
#: Seconds the group has between SIGTERM and SIGKILL.
GRACE_SECONDS = 2.0


def new_token() -> str:
    return secrets.token_hex(8)


def server_group(token: str) -> int | None:
    """The process group of the server started with `token` (its own pid), or None: not found, not a
    group of its own, or a platform without process groups. Never this process's own group."""
    if not hasattr(os, "killpg"):
        return None
    for child in psutil.Process().children():
        try:
            if child.environ().get(TOKEN_ENV) != token:
                continue
            group = os.getpgid(child.pid)
        except (psutil.Error, OSError):
            continue
        return group if group == child.pid and group != os.getpgrp() else None
    return None


def end_groups(groups: list[int]) -> None:
    """SIGTERM every process left in each group; SIGKILL what remains after GRACE_SECONDS, on a timer of
    the running loop (the attempt's end does not wait for it)."""
    for group in groups:
        try:
            os.killpg(group, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            continue  # nothing is left in it (or nothing of ours)
        asyncio.get_running_loop().call_later(GRACE_SECONDS, _kill, group)


def _kill(group: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signal.SIGKILL)
