"""The default executor: coroutines on the engine's loop, sync callables on a bounded pool of threads.

The pool is ours rather than `concurrent.futures.ThreadPoolExecutor` behind `run_in_executor`: that path
builds a `concurrent.futures.Future` (a lock and a condition), a work item and a chain of callbacks
between the two futures for every call, which cost more than the engine's own work for a quick agent.
Here a call is one item on a `SimpleQueue`, and its answer settles the loop's future directly, the
answers that arrive together handed over in one `call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable
from contextlib import suppress
from queue import SimpleQueue
from typing import Any, Protocol

from ..agents.context import AgentContext
from ..agents.function import FunctionAgent


class Executor(Protocol):
    async def run(self, agent: FunctionAgent, ctx: AgentContext) -> Any: ...

    def close(self) -> None: ...


class AgentExited(Exception):
    """An agent that raised SystemExit (`sys.exit()` in its code, or a library's) or KeyboardInterrupt: its
    attempt fails with this, like with any error. Let through, either would stop the event loop that runs
    every mission of the project (asyncio lets both out of `run_forever`)."""


def _exited(exc: SystemExit | KeyboardInterrupt) -> AgentExited:
    what = f"SystemExit({exc.code!r})" if isinstance(exc, SystemExit) else type(exc).__name__
    error = AgentExited(f"the agent raised {what}: its attempt fails, the engine goes on")
    error.__cause__ = exc
    return error


def _settle(future: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    """On the loop: hand the call's outcome to its waiter, unless the waiter gave up (killed, timed out)."""
    if future.cancelled():
        return
    if error is None:
        future.set_result(value)
    else:
        future.set_exception(error)


class _Outcomes:
    """The calls' outcomes on their way to the loop. Each `call_soon_threadsafe` writes to the loop's
    wake-up pipe (a system call, and a loop turn to read it): outcomes that arrive while one hand-over
    is pending ride with it, so a burst of quick calls wakes the loop once."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._items: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        self._lock = threading.Lock()

    def put(self, future: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
        with self._lock:
            self._items.append((future, value, error))
            if len(self._items) > 1:
                return  # a hand-over is pending: it takes this one too
        with suppress(RuntimeError):  # the loop closed meanwhile (the project did): nobody waits any more
            self.loop.call_soon_threadsafe(self._hand_over)

    def _hand_over(self) -> None:
        with self._lock:
            items, self._items = self._items, []
        for item in items:
            _settle(*item)


class WorkerPool:
    """At most `max_workers` daemon threads, started as calls need them and kept for the next ones.

    Daemon, so that a sync agent stuck in a call never holds the interpreter (a kernel, `polpo serve`)
    open at exit; a closed pool's queued calls never start."""

    def __init__(self, max_workers: int, name: str) -> None:
        self.max_workers = max(1, max_workers)
        self.name = name
        self._calls: SimpleQueue[Callable[[], None] | None] = SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, call: Callable[[], None]) -> None:
        if self._closed:
            raise RuntimeError("the executor is closed")
        self._calls.put(call)
        with self._lock:
            if self._idle:
                self._idle -= 1  # that worker takes it
            elif len(self._threads) < self.max_workers:
                thread = threading.Thread(target=self._work, name=f"{self.name}_{len(self._threads)}", daemon=True)
                self._threads.append(thread)
                thread.start()

    def _work(self) -> None:
        while True:
            call = self._calls.get()
            if call is None or self._closed:
                return
            call()
            with self._lock:
                self._idle += 1

    def close(self) -> None:
        self._closed = True
        for _ in self._threads:
            self._calls.put(None)


class InProcessExecutor:
    def __init__(self, max_workers: int = 8) -> None:
        self._pool = WorkerPool(max_workers, "polpo-agent")
        self._outcomes: _Outcomes | None = None

    async def run(self, agent: FunctionAgent, ctx: AgentContext) -> Any:
        if agent.is_async:
            try:
                return await agent.fn(ctx.task, ctx)
            except (SystemExit, KeyboardInterrupt) as exc:
                raise _exited(exc) from exc
        loop = asyncio.get_running_loop()
        if self._outcomes is None or self._outcomes.loop is not loop:
            self._outcomes = _Outcomes(loop)
        outcomes = self._outcomes
        future: asyncio.Future[Any] = loop.create_future()
        context = contextvars.copy_context()  # the attempt's dry-run flag and meter go with it
        fn = agent.fn

        def call() -> None:
            if ctx.cancelled:  # timed out or killed while it waited for a thread: it never starts
                return
            value: Any = None
            error: BaseException | None = None
            try:
                value = context.run(fn, ctx.task, ctx)
            except (SystemExit, KeyboardInterrupt) as exc:
                error = _exited(exc)
            except BaseException as exc:  # noqa: BLE001 - the agent's failure is its waiter's to handle
                error = exc
            outcomes.put(future, value, error)

        self._pool.submit(call)
        return await future

    def close(self) -> None:
        self._pool.close()
