"""Dry runs: what a `sk_test_` API key starts, and what a client can exercise end to end for free.

In a dry run every LLM call (agents, the LLM judge, the chat orchestrator) is played by pydantic-ai's
offline `test` model: no provider is called, nothing is spent. Side-effecting tasks still stop for a
human's approval (nothing approves them automatically, dry or not). The run says it is dry: its
persisted flags (`RunFlags.dry_run`, kept across a resume) and its `mission:executed` event
(`dryRun: true`); its attempts name the `test` model.

The flag travels as a context variable: set around a request made with a test key (`scope`), read
when a run is made (`engine/run.py`), set again from the run's flags in each of its task jobs (so a run
stays dry whoever resumes or approves it), and read where a model is resolved (`agents/models.py`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

#: The offline model a dry run plays every LLM call on.
TEST_MODEL = "test"

_DRY: ContextVar[bool] = ContextVar("polpo_dry_run", default=False)


def active() -> bool:
    """Whether the current task (asyncio task or thread's context) is part of a dry run."""
    return _DRY.get()


@contextmanager
def scope(dry: bool = True) -> Iterator[None]:
    """Everything started inside (runs, and the asyncio tasks they create) is dry when `dry` is True."""
    if not dry:
        yield
        return
    token = _DRY.set(True)
    try:
        yield
    finally:
        _DRY.reset(token)


def enter(dry: bool) -> None:
    """Mark the rest of the current asyncio task dry (a run's job: its own copy of the context)."""
    if dry:
        _DRY.set(True)
