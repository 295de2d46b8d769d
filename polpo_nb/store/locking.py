"""How this process's connection waits for the write lock other processes hold.

SQLite serialises writers across processes: a `BEGIN IMMEDIATE` while another connection writes would
wait in SQLite's busy handler, blocking the calling thread with the connection held. The connection is
shared by the engine's loop and the caller's threads (`Store`'s lock), and the loop serves every run,
stream and request of the process: a thread waiting there for another process held them all. So the
lock is only ever *tried* (`try_begin`), and waited for between tries with nothing held: a thread sleeps
(`begin`, for `Store.write`), the engine's loop sets a timer (`store/journal.py`). `LockWait` paces the
tries. (A read takes no write lock: `snapshot` is its transaction, on whichever connection reads.)
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import StoreError, StoreWriteError

BUSY_TIMEOUT_MS = 30_000
#: The first and the longest pause between two tries for the write lock (seconds), doubling in between.
LOCK_RETRY = (0.001, 0.02)


class StoreBusy(StoreError):
    """Another connection holds the write lock: nothing was begun."""


class LockWait:
    """The pauses between tries for another process's write lock: doubling from `LOCK_RETRY[0]` up to
    `LOCK_RETRY[1]`, until `timeout` seconds have passed since the first try."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._first = self._since = time.monotonic()
        self._delay = LOCK_RETRY[0]

    @property
    def waited(self) -> float:
        """Seconds since the first try."""
        return time.monotonic() - self._first

    def restart(self) -> None:
        """Another `timeout` of tries, for a writer that waits the lock out (the engine's journal)."""
        self._since = time.monotonic()

    def next_delay(self) -> float | None:
        """Seconds until the next try, or None: the timeout has passed."""
        if time.monotonic() - self._since >= self.timeout:
            return None
        delay, self._delay = self._delay, min(2 * self._delay, LOCK_RETRY[1])
        return delay

    def locked(self, path: Path, busy: StoreBusy) -> StoreError:
        """What a writer is told when another process kept the write lock past the timeout."""
        return StoreError(f"{path} is locked by another process for more than {self.timeout:g}s: {busy.__cause__}")


def begin(lock: threading.RLock, conn: sqlite3.Connection, path: Path, busy_ms: int, *, wait: bool) -> None:
    """Hold `lock` (the connection's) with a write transaction begun on `conn`, or raise with nothing held:
    `StoreBusy` at once without `wait`, else the "locked" error once `busy_ms` have passed in tries."""
    pause: LockWait | None = None
    while True:
        lock.acquire()
        try:
            try_begin(conn, path, busy_ms)
            return  # the lock stays held for the transaction: `Store.write` releases it
        except StoreBusy as busy:
            lock.release()
            if not wait:
                raise
            pause = pause or LockWait(busy_ms / 1000)
            delay = pause.next_delay()
            if delay is None:
                raise pause.locked(path, busy) from None
        except BaseException:
            lock.release()
            raise
        time.sleep(delay)


def try_begin(conn: sqlite3.Connection, path: Path, busy_ms: int) -> None:
    """`BEGIN IMMEDIATE` now, on a connection whose busy timeout is `busy_ms`, or `StoreBusy`."""
    try:
        with without_busy_wait(conn, busy_ms):
            conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if not _busy(exc):
            if unwritable(exc):
                raise StoreWriteError(f"{path}: cannot begin a write: {exc}", reason=str(exc)) from exc
            raise StoreError(f"{path}: cannot begin a write: {exc}") from exc
        raise StoreBusy(f"{path} is being written by another process") from exc


@contextmanager
def without_busy_wait(conn: sqlite3.Connection, busy_ms: int) -> Iterator[None]:
    """The statements inside get SQLITE_BUSY at once where they would wait for another connection; then
    the connection's busy timeout (`busy_ms`) is back."""
    conn.execute("PRAGMA busy_timeout = 0")
    try:
        yield
    finally:
        conn.execute(f"PRAGMA busy_timeout = {busy_ms}")


@contextmanager
def snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """One deferred read transaction: every query inside sees the database as of the first one, whatever
    other connections commit meanwhile (WAL lets them write)."""
    conn.execute("BEGIN")
    try:
        yield
    finally:
        if conn.in_transaction:  # (an error may have ended it already: keep that error)
            conn.execute("COMMIT")  # nothing was written: this only ends the snapshot


def switch_to_wal(conn: sqlite3.Connection, busy_ms: int) -> str:
    """`PRAGMA journal_mode = WAL`, waiting for another connection's write: while one holds the write lock
    of a file still in rollback-journal mode (a new project another process is creating), SQLite refuses
    the switch at once (SQLITE_BUSY), without calling the busy handler."""
    wait = LockWait(busy_ms / 1000)
    while True:
        try:
            return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        except sqlite3.OperationalError as exc:
            delay = wait.next_delay()
            if not _busy(exc) or delay is None:
                raise
            time.sleep(delay)


#: SQLite's primary result codes for a file that refuses writes until someone acts: the disk is full, an
#: I/O error, a file made read-only, damaged or replaced. Waiting does not cure them, as it cures BUSY.
_UNWRITABLE = frozenset({sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CORRUPT,
                         sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_NOTADB})


def unwritable(exc: BaseException) -> bool:
    """Whether `exc` says the database file refuses writes (`_UNWRITABLE`). SQLite may have rolled the
    transaction back on its own then: nothing more may be written in it."""
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.Error) and code is not None and code & 0xFF in _UNWRITABLE


def _busy(exc: sqlite3.OperationalError) -> bool:
    """SQLITE_BUSY, or one of its extended codes (another connection recovering the WAL, ...)."""
    return exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY
