"""The project's public reads, on a connection and a thread of their own.

A read used to run on the engine's loop, on the engine's connection. Parsing a list of 20,000 tasks
takes ~0.4 s, and for that long no task of any run moved: a client listing the tasks in a loop (a
dashboard, a script watching a mission) made a run 100-200 times slower (138 times for 500 tasks,
`benchmarks/reading.py`), each list taking a whole turn of the loop between two of the run's steps.
WAL lets a second connection read while the engine writes, and a thread lets the loop go on while the
rows are parsed. The two still share the GIL (Python hands it over every few milliseconds,
`sys.getswitchinterval`): a run slows while a big read parses (2.9 times for the same 500 tasks and
client), but it no longer stands still. The server's lists read here too (`polpo_server/lists.py`).

A read sees every commit made before it began: a writer's future resolves only once its commit is
done, so "write, then read" reads what was written. Each read is one deferred transaction, one
snapshot, as `Store.read()` gives. The connection is `query_only`: a read can never write.

Reads queue on the one thread, in order. The connection is opened there at the first read (a project
only written to, or opened by a command that reads nothing, costs no thread and no connection) and
closed there after the reads queued before `close()`.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from ..errors import ProjectClosedError, StoreError
from .locking import snapshot
from .sqlite import Tx

T = TypeVar("T")


class Reader:
    """`await reader(fn)`: `fn(tx)` in one read transaction on the reader's thread, from any loop."""

    def __init__(self, path: Path, *, busy_timeout: float) -> None:
        self.path = path
        self._busy_timeout = busy_timeout
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="polpo-reader")
        self._session: tuple[sqlite3.Connection, Tx] | None = None  # on the reader's thread, from the first read
        self._closed = False
        self._used = False  # a read was queued: the thread exists, and so may the connection

    async def __call__(self, fn: Callable[[Tx], T]) -> T:
        if self._closed:
            raise ProjectClosedError()
        try:
            read = asyncio.get_running_loop().run_in_executor(self._thread, self._read, fn)
            self._used = True
        except RuntimeError:  # closed from another thread since the look above
            raise ProjectClosedError() from None
        return await read

    def _read(self, fn: Callable[[Tx], T]) -> T:
        conn, tx = self._session or self._connect()
        with snapshot(conn):
            return fn(tx)

    def _connect(self) -> tuple[sqlite3.Connection, Tx]:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   timeout=self._busy_timeout)
            conn.execute("PRAGMA query_only = ON")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot read {self.path}: {exc}") from exc
        self._session = (conn, Tx(conn))
        return self._session

    def close(self) -> None:
        """No read starts from now on; those already queued run, then the connection closes."""
        if self._closed:
            return
        self._closed = True
        if self._used:  # (else there is no thread, and none is started to close nothing)
            self._thread.submit(self._close_connection)
        self._thread.shutdown(wait=False)

    def _close_connection(self) -> None:
        if self._session is not None:
            self._session[0].close()
            self._session = None
