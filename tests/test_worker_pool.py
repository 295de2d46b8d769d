"""The in-process executor's pool of threads for sync agents: calls run side by side up to the limit,
their outcomes (values and exceptions) reach their waiters, and a closed pool takes no more calls."""

from __future__ import annotations

import asyncio
import threading

import pytest

from polpo_nb.agents.function import FunctionAgent
from polpo_nb.executors.inprocess import InProcessExecutor, WorkerPool

WAIT = 30


class _Ctx:
    """What the executor hands an agent: it reads only `task`, and `cancelled` before the call starts."""

    task = None
    cancelled = False


async def test_sync_calls_run_side_by_side_up_to_the_limit_and_no_further():
    executor = InProcessExecutor(max_workers=3)
    state = {"inside": 0, "most": 0}
    changed = threading.Condition()
    go = threading.Event()

    def agent(task, ctx):
        with changed:
            state["inside"] += 1
            state["most"] = max(state["most"], state["inside"])
            changed.notify_all()
        go.wait(WAIT)
        with changed:
            state["inside"] -= 1
        return threading.current_thread().name

    def three_inside() -> bool:
        with changed:
            return changed.wait_for(lambda: state["inside"] == 3, WAIT)

    runtime = FunctionAgent("w", agent)
    calls = asyncio.gather(*(executor.run(runtime, _Ctx()) for _ in range(9)))
    assert await asyncio.to_thread(three_inside)  # three at once...
    go.set()
    names = await asyncio.wait_for(calls, WAIT)
    executor.close()
    assert state["most"] == 3  # ...and never four, over all nine calls
    assert set(names) == {"polpo-agent_0", "polpo-agent_1", "polpo-agent_2"}


async def test_a_call_cancelled_while_it_waits_for_a_thread_never_starts():
    executor = InProcessExecutor(max_workers=1)
    hold, ran = threading.Event(), []
    busy = asyncio.ensure_future(executor.run(FunctionAgent("w", lambda task, ctx: hold.wait(WAIT)), _Ctx()))
    waiting_ctx = _Ctx()
    waiting = asyncio.ensure_future(executor.run(FunctionAgent("w", lambda task, ctx: ran.append("late")), waiting_ctx))
    await asyncio.sleep(0)  # both submitted; the second waits behind the first
    waiting_ctx.cancelled = True  # what the engine does when its maxDuration passes or it is killed
    waiting.cancel()
    hold.set()
    assert await asyncio.wait_for(busy, WAIT) is True
    value = await asyncio.wait_for(executor.run(FunctionAgent("w", lambda task, ctx: "next"), _Ctx()), WAIT)
    executor.close()
    assert value == "next" and ran == []  # the queue went past it: the next call ran, the cancelled one did not


async def test_an_agents_exception_reaches_its_waiter_and_the_worker_lives_on():
    executor = InProcessExecutor(max_workers=1)

    def agent(task, ctx):
        raise KeyError("the agent's own error")

    with pytest.raises(KeyError, match="the agent's own error"):
        await asyncio.wait_for(executor.run(FunctionAgent("w", agent), _Ctx()), WAIT)
    value = await asyncio.wait_for(executor.run(FunctionAgent("w", lambda task, ctx: "after"), _Ctx()), WAIT)
    executor.close()
    assert value == "after"


def test_a_closed_pool_refuses_calls_and_never_starts_queued_ones():
    pool = WorkerPool(1, "test-pool")
    release = threading.Event()
    ran: list[str] = []
    pool.submit(lambda: (release.wait(WAIT), ran.append("first")))
    pool.submit(lambda: ran.append("queued"))  # waits behind the first: the pool has one thread
    pool.close()
    release.set()
    with pytest.raises(RuntimeError, match="closed"):
        pool.submit(lambda: ran.append("late"))
    pool_threads = [t for t in threading.enumerate() if t.name.startswith("test-pool")]
    for thread in pool_threads:
        thread.join(WAIT)
    assert ran == ["first"]
    assert not any(t.is_alive() for t in pool_threads)


async def test_outcomes_that_arrive_while_the_loop_is_busy_wake_it_once(monkeypatch):
    """Each wake-up of the loop from a thread is a write to its pipe and a turn to read it: a burst of
    quick calls finishing while the engine is busy hands its outcomes over together, each to its own waiter."""
    loop = asyncio.get_running_loop()
    wakeups: list[object] = []
    original = loop.call_soon_threadsafe

    def counted(callback, *args, **kwargs):
        wakeups.append(callback)
        return original(callback, *args, **kwargs)
    monkeypatch.setattr(loop, "call_soon_threadsafe", counted)
    executor = InProcessExecutor(max_workers=8)
    finished = threading.Semaphore(0)

    def agent(task, ctx):
        try:
            return ctx.task
        finally:
            finished.release()

    contexts = [_Ctx() for _ in range(8)]
    for number, ctx in enumerate(contexts):
        ctx.task = number
    calls = [asyncio.ensure_future(executor.run(FunctionAgent("w", agent), ctx)) for ctx in contexts]
    await asyncio.sleep(0)  # every call submitted
    for _ in contexts:  # the loop stays busy (blocked here) until every call has finished in its thread
        assert finished.acquire(timeout=WAIT)
    values = await asyncio.wait_for(asyncio.gather(*calls), WAIT)
    executor.close()
    assert values == list(range(8))
    # one hand-over, or two if a thread was paused between its agent's end and handing its outcome over
    # (the agent signals just before that): never one per call
    assert 1 <= len(wakeups) < len(contexts)
