"""The engine's event loop, and how calls from any thread or loop reach it.

A project's engine lives on exactly one loop: the Jupyter server's own, or a dedicated daemon thread
(notebook kernels: ipykernel 7 stops a cell's asyncio tasks when the cell ends, so missions would
freeze between cells; scripts: no loop at all). `engine_call` marshals a coroutine onto that loop from
wherever it is awaited; `EngineThread.call` does the same for blocking callers. No nest_asyncio.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Future
from typing import Any, ParamSpec, Protocol, TypeVar

from ..errors import ProjectClosedError

P = ParamSpec("P")
T = TypeVar("T")


class HasLoop(Protocol):
    _loop: asyncio.AbstractEventLoop


def current_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


async def on_loop(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> T:
    """Await `coro` on `loop`, directly if we are on it, else through a thread-safe future."""
    if current_loop() is loop:
        return await coro
    if loop.is_closed() or not loop.is_running():
        coro.close()
        raise ProjectClosedError()
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))


def engine_call(method: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    """Decorate an AsyncProject coroutine method so it always runs on the project's loop."""

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        self: HasLoop = args[0]  # type: ignore[assignment]
        return await on_loop(self._loop, method(*args, **kwargs))

    return wrapper


def block_on(loop: asyncio.AbstractEventLoop, awaitable: Awaitable[T], timeout: float | None = None) -> T:
    """Run `awaitable` on `loop` from another thread and wait for its result. At `timeout` (seconds),
    TimeoutError, and the awaitable is cancelled: the caller gave up on it, nobody else waits for it."""
    if current_loop() is loop:
        _discard(awaitable)
        raise RuntimeError(
            "a blocking polpo call was made on the engine's own event loop; use the async API "
            "(`await project.aio.<method>(...)`) from coroutines that run there"
        )
    if loop.is_closed() or not loop.is_running():  # its project was closed: nothing would ever run it
        _discard(awaitable)
        raise ProjectClosedError()

    async def _await() -> T:
        return await awaitable

    future: Future[T] = asyncio.run_coroutine_threadsafe(_await(), loop)
    try:
        return future.result(timeout)
    except TimeoutError:
        future.cancel()
        raise


def _discard(awaitable: Awaitable[Any]) -> None:
    """A coroutine that will not run, closed so that Python does not warn it was never awaited."""
    if inspect.iscoroutine(awaitable):
        awaitable.close()


class EngineThread:
    """A daemon thread running one event loop forever, for engines that have no loop of their own."""

    def __init__(self, name: str = "polpo-engine") -> None:
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        def main() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.call_soon(ready.set)
            self.loop.run_forever()

        self.thread = threading.Thread(target=main, name=name, daemon=True)
        self.thread.start()
        ready.wait()

    def call(self, awaitable: Awaitable[T], timeout: float | None = None) -> T:
        return block_on(self.loop, awaitable, timeout)

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        if not self.thread.is_alive():
            self.loop.close()
