"""The default executor: coroutines on the engine's loop, sync callables on a bounded thread pool."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from ..agents.context import AgentContext
from ..agents.function import FunctionAgent


class Executor(Protocol):
    async def run(self, agent: FunctionAgent, ctx: AgentContext) -> Any: ...

    def close(self) -> None: ...


class InProcessExecutor:
    def __init__(self, max_workers: int = 8) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="polpo-agent")

    async def run(self, agent: FunctionAgent, ctx: AgentContext) -> Any:
        if agent.is_async:
            return await agent.fn(ctx.task, ctx)
        loop = asyncio.get_running_loop()
        call = functools.partial(contextvars.copy_context().run, agent.fn, ctx.task, ctx)
        return await loop.run_in_executor(self._pool, call)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
