"""How this process's connection waits for the write lock other processes hold.

SQLite serialises writers across processes: a `BEGIN IMMEDIATE` while another connection writes waits
in SQLite's busy handler, up to `BUSY_TIMEOUT_MS`, blocking the calling thread. That is right for a
caller's own thread (a CLI command, a cell registering an agent), wrong for the engine's event loop,
which serves every run, stream and request of the process: it begins without waiting
(`begin(wait=False)` raises `StoreBusy` at once) and waits on its own timer instead (`store/journal.py`).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from ..errors import StoreError

BUSY_TIMEOUT_MS = 30_000


class StoreBusy(StoreError):
    """Another connection holds the write lock, and the caller asked not to wait: nothing was begun."""


def locked_error(path: Path, reason: object, busy_ms: int = BUSY_TIMEOUT_MS) -> StoreError:
    """What a writer is told when another process kept the write lock past the busy timeout."""
    return StoreError(f"{path} is locked by another process for more than {busy_ms / 1000:g}s: {reason}")


def begin_immediate(conn: sqlite3.Connection, path: Path, busy_ms: int, *, wait: bool = True) -> None:
    """`BEGIN IMMEDIATE` on a connection whose busy timeout is `busy_ms`: the write lock, waited for up
    to that timeout, or (`wait=False`) taken now or refused with `StoreBusy`."""
    if wait:
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise locked_error(path, exc, busy_ms) from exc
        return
    conn.execute("PRAGMA busy_timeout = 0")
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
            raise locked_error(path, exc, busy_ms) from exc
        raise StoreBusy(f"{path} is being written by another process") from exc
    finally:
        conn.execute(f"PRAGMA busy_timeout = {busy_ms}")


def switch_to_wal(conn: sqlite3.Connection) -> str:
    """`PRAGMA journal_mode = WAL`, waiting for another connection's write as any statement does: while one
    holds the write lock of a file still in rollback-journal mode (a new project another process is
    creating), SQLite refuses the switch at once (SQLITE_BUSY), without calling the busy handler."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)
