"""Running an expectation's shell command: in the project, with a filtered environment and a deadline.

The process gets its own session so a timeout (or a cancelled assessment) kills the command *and*
everything it spawned, not just the shell. Output is kept as a bounded tail: a chatty test suite must
not grow the assessor's memory, and feedback only ever shows the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from dataclasses import dataclass
from pathlib import Path

from ..sandbox import filtered_env

__all__ = ["CommandRun", "run_shell", "tail"]

#: Bytes of each stream kept in memory; feedback shows less, metrics need only the last line.
_KEEP_BYTES = 64 * 1024
#: Seconds to wait for pipes to close after the process group was killed (a daemonised grandchild
#: may hold them open forever).
_DRAIN_GRACE = 1.0


@dataclass(frozen=True)
class CommandRun:
    """How a command ended. `exit_code` is None when it was killed on timeout or could not start."""

    command: str
    exit_code: int | None
    stdout: str
    stderr: str
    timed_out: bool = False
    timeout: float | None = None
    start_error: str | None = None

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def output(self) -> str:
        """stdout then stderr (interleaved already when the run merged them)."""
        if self.stdout and self.stderr:
            return f"{self.stdout.rstrip()}\n{self.stderr}"
        return self.stdout or self.stderr


def tail(text: str, limit: int = 2000) -> str:
    """The last `limit` characters, marked as truncated so nobody mistakes it for the whole output."""
    text = text.rstrip()
    if len(text) <= limit:
        return text
    return "...[truncated]\n" + text[-limit:]


class _Tail:
    def __init__(self) -> None:
        self.data = bytearray()

    async def drain(self, stream: asyncio.StreamReader | None) -> None:
        if stream is None:
            return
        while chunk := await stream.read(65536):
            self.data += chunk
            if len(self.data) > 2 * _KEEP_BYTES:
                del self.data[:-_KEEP_BYTES]

    def text(self) -> str:
        return bytes(self.data[-_KEEP_BYTES:]).decode("utf-8", errors="replace")


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGKILL)
        elif proc.returncode is None:  # pragma: no cover - no process groups; kill the shell at least
            proc.kill()


async def run_shell(command: str, *, cwd: Path, timeout: float, merge_stderr: bool = True) -> CommandRun:
    """Run `command` with the shell in `cwd`. With `merge_stderr`, stderr is interleaved into stdout as
    a terminal would show it; metrics need them apart to read the number from stdout alone."""
    try:
        proc = await asyncio.create_subprocess_shell(
            command,
            cwd=cwd,
            env=filtered_env(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT if merge_stderr else asyncio.subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        return CommandRun(command, None, "", "", start_error=f"{type(exc).__name__}: {exc}")

    out, err = _Tail(), _Tail()
    readers = [asyncio.ensure_future(out.drain(proc.stdout)), asyncio.ensure_future(err.drain(proc.stderr))]
    timed_out = False
    try:
        async with asyncio.timeout(timeout):
            await proc.wait()
    except TimeoutError:
        timed_out = True
        _kill_group(proc)
        with contextlib.suppress(TimeoutError):  # never hang on a child that escaped the group
            async with asyncio.timeout(_DRAIN_GRACE):
                await proc.wait()
    except BaseException:  # cancelled: the command must not outlive the assessment
        _kill_group(proc)
        for reader in readers:
            reader.cancel()
        raise
    _, pending = await asyncio.wait(readers, timeout=_DRAIN_GRACE)
    if pending:  # a background child (`server &`) still holds the pipes: it dies with the check
        _kill_group(proc)
        _, pending = await asyncio.wait(pending, timeout=_DRAIN_GRACE)
        for reader in pending:
            reader.cancel()
    return CommandRun(
        command,
        None if timed_out else proc.returncode,
        out.text(),
        err.text(),
        timed_out=timed_out,
        timeout=timeout,
    )
