"""Python's cyclic garbage collector paused while a mission's records are built or read back in bulk.

CPython starts a young collection every 700 net allocations of containers, and a full one whenever
what survived grew by a quarter. Saving a mission allocates millions of containers at once, none of
them garbage (the records are saved, then held by the run), so at 100,000 tasks the save started
~2,000 young and 5 full collections, each full one scanning every record built so far: 16 µs per task,
a third of the save, and what bent the cost per task with the mission's size. Reading a 20,000-task
mission back (a re-run, a resume) spent half its time so. Paused meanwhile (as Mercurial's `util.nogc`
does around its bulk parsers), those collections do not happen; the collector takes the records in
once, after.

The switch is the process's (`gc.disable`), so a pause is short (one save or read), counted (pauses at
once on several threads: the last one out enables it again), and never turns on a collector that was
off when the first began.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")


class _Pauses:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.depth = 0
        self.was_enabled = False


_pauses = _Pauses()


@contextmanager
def collector_paused() -> Iterator[None]:
    """No automatic collection inside (a collection asked for, `gc.collect()`, still runs)."""
    with _pauses.lock:
        if _pauses.depth == 0:
            _pauses.was_enabled = gc.isenabled()
            gc.disable()
        _pauses.depth += 1
    try:
        yield
    finally:
        with _pauses.lock:
            _pauses.depth -= 1
            if _pauses.depth == 0 and _pauses.was_enabled:
                gc.enable()


async def paused(work: Awaitable[T]) -> T:
    """`work` awaited with the collector paused (a coroutine that builds or reads records in bulk)."""
    with collector_paused():
        return await work
