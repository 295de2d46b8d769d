"""Durable steps inside an attempt: what an agent finished is stored before it goes on, so an attempt a
crash interrupted continues after its last stored step instead of starting over (exact resume).

`StepLog` is one attempt's log in the store: steps are appended through the journal (the same group
commit as every other write) and awaited, so a step is durable before the agent takes the next one. The
engine hands every attempt a log (`AgentContext._steps`); it costs nothing until an agent uses it (one
read of the attempt's stored steps, then a commit per step).

Two kinds of agents use it: LLM agents record each model response and each tool result
(`agents/durable_llm.py`); function agents wrap their own expensive or side-effecting work in
`ctx.step(name, fn)` / `await ctx.astep(name, fn)` (here), whose recorded result is replayed on resume, as
DBOS steps are. Steps are matched by name and occurrence (the third `ctx.step("fetch", ...)` of an
attempt is `fetch#3`), so an agent that runs the same code again meets its steps in the same order.

A step that was running when the process died has no result. An idempotent one (`idempotent=True`)
just runs again; any other raises `StepInterrupted` in the agent: it may or may not have taken effect,
and only the agent (or a human) can tell. Results are JSON (str, numbers, bools, None, lists, dicts), so
a replayed value is the same value the first run returned (which also gets the JSON copy).
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import PolpoError

if TYPE_CHECKING:
    from ..store.journal import Journal
    from ..store.sqlite import Store
    from ..store.steps import StepRow

__all__ = ["StepError", "StepInterrupted", "StepLog", "run_step", "run_step_async"]

STEP = "step"


class StepInterrupted(PolpoError):
    """A non-idempotent `ctx.step` was running when the process running the attempt died: it may or may
    not have taken effect. Raised in the agent on resume instead of running the step again."""

    code = "CONFLICT"

    def __init__(self, name: str) -> None:
        super().__init__(f"step {name!r} was interrupted by a crash: it may or may not have taken effect, and "
                         "it is not run again because it is not idempotent", step=name)
        self.step = name


class StepError(PolpoError):
    """A `ctx.step` that raised before the crash raises again on resume (with the first error's text)."""


class StepLog:
    """One attempt's durable steps: read from the store when first asked (an attempt that runs on after
    a crash has some), written as awaited group commits."""

    __slots__ = ("_journal", "_recorded", "_seen", "_store", "attempt", "loop", "task_id")

    def __init__(self, store: Store, journal: Journal, loop: asyncio.AbstractEventLoop, task_id: str,
                 attempt: int) -> None:
        # made for every attempt: nothing more than the references (the engine's hot path)
        self._store = store
        self._journal = journal
        self.loop = loop
        self.task_id = task_id
        self.attempt = attempt
        self._recorded: list[StepRow] | None = None
        self._seen: dict[str, itertools.count[int]] = {}

    def recorded(self) -> list[StepRow]:
        """The steps stored before a crash, in order (none for a new attempt)."""
        if self._recorded is None:
            with self._store.read() as tx:
                self._recorded = tx.steps(self.task_id, self.attempt)
        return self._recorded

    async def record(self, steps: list[tuple[str, str, Any]]) -> None:
        """Store `(kind, key, document)` steps; returns once they are committed. Call on the engine's loop."""
        rows = [(kind, key, json.dumps(doc)) for kind, key, doc in steps]
        await self._journal.write(lambda tx, emit: tx.add_steps(self.task_id, self.attempt, rows))

    def record_from_thread(self, steps: list[tuple[str, str, Any]]) -> None:
        """`record` for a sync agent's worker thread: blocks until committed."""
        asyncio.run_coroutine_threadsafe(self.record(steps), self.loop).result()

    def next_key(self, name: str) -> str:
        """`name#n`: the n-th step of that name in this attempt (setdefault and next are atomic: an
        agent's threads may share its context)."""
        return f"{name}#{next(self._seen.setdefault(name, itertools.count(1)))}"

    def last(self, kind: str, key: str) -> dict[str, Any] | None:
        """The last stored document of a step, or None."""
        found = None
        for row in self.recorded():
            if row.kind == kind and row.key == key:
                found = row
        return json.loads(found.doc) if found is not None else None


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def _as_json(name: str, value: Any) -> Any:
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        raise TypeError(f"step {name!r} returned {type(value).__name__}, which cannot be stored: a step's result "
                        "must be JSON (str, int, float, bool, None, list, dict)") from None


def _replayed(name: str, doc: dict[str, Any] | None, idempotent: bool) -> tuple[bool, Any]:
    """(True, value) when the step's outcome is stored; raises what it raised, or StepInterrupted."""
    if doc is None:
        return False, None
    if doc["state"] == "done":
        return True, doc["value"]
    if doc["state"] == "failed":
        raise StepError(doc["error"], step=name)
    if idempotent:  # started, never finished: run it again
        return False, None
    raise StepInterrupted(name)


def run_step(log: StepLog | None, name: str, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
             *, idempotent: bool) -> Any:
    """`ctx.step`: from a sync agent's thread."""
    if inspect.iscoroutinefunction(fn):
        raise TypeError(f"step {name!r}: {fn!r} is async; use `await ctx.astep(...)` in an async agent")
    if log is None:  # no store here (a remote worker): the step just runs
        return _as_json(name, fn(*args, **kwargs))
    if _on_loop(log.loop):
        raise RuntimeError(f"ctx.step({name!r}) blocks until its step is stored: in an async agent use "
                           "`await ctx.astep()`")
    key = log.next_key(name)
    known, value = _replayed(name, log.last(STEP, key), idempotent)
    if known:
        return value
    if not idempotent:
        log.record_from_thread([(STEP, key, {"state": "started"})])
    try:
        value = _as_json(name, fn(*args, **kwargs))
    except Exception as exc:
        log.record_from_thread([(STEP, key, {"state": "failed", "error": f"{type(exc).__name__}: {exc}"})])
        raise
    log.record_from_thread([(STEP, key, {"state": "done", "value": value})])
    return value


async def run_step_async(log: StepLog | None, name: str, fn: Callable[..., Any], args: tuple[Any, ...],
                         kwargs: dict[str, Any], *, idempotent: bool) -> Any:
    """`ctx.astep`: from an async agent, on the engine's loop; `fn` may be sync or async."""
    async def call() -> Any:
        value = fn(*args, **kwargs)
        return _as_json(name, await value if inspect.isawaitable(value) else value)

    if log is None:
        return await call()
    key = log.next_key(name)
    known, value = _replayed(name, log.last(STEP, key), idempotent)
    if known:
        return value
    if not idempotent:
        await log.record([(STEP, key, {"state": "started"})])
    try:
        value = await call()
    except Exception as exc:
        await log.record([(STEP, key, {"state": "failed", "error": f"{type(exc).__name__}: {exc}"})])
        raise
    await log.record([(STEP, key, {"state": "done", "value": value})])
    return value
