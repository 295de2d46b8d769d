"""Commands for a run that another live process owns travel through the store.

A server approving a task of a mission that a notebook kernel runs cannot touch that run's state
directly (the kernel holds it in memory and would overwrite it). It writes a command row addressed to
the owner and waits; the owner's tail notices the commit (PRAGMA data_version), executes the command
on its own engine, and marks it done with the outcome, which the sender re-raises as the same error.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import ConflictError, InternalError, PolpoError, error_for_code
from ..store.journal import Emit, Journal, WriteFn
from ..store.rows import CommandRow
from ..store.sqlite import Store, Tx

if TYPE_CHECKING:
    from .engine import Engine

POLL_SECONDS = 0.05
ANSWER_TIMEOUT = 30.0


#: A command the project adds beside the engine's own (the edits of a running mission's tasks).
Handler = Callable[[CommandRow], Awaitable[Any]]


class CommandRouter:
    def __init__(self, store: Store, journal: Journal, owner: str, engine: Engine,
                 more: Mapping[str, Handler] | None = None) -> None:
        self.store = store
        self.journal = journal
        self.owner = owner
        self.engine = engine
        self.more = dict(more or {})

    async def send(self, target: str, kind: str, *, mission_id: str | None = None, task_id: str | None = None,
                   payload: dict[str, Any] | None = None) -> None:
        """Hand a command to the owning process and wait for its outcome (its error re-raised here)."""
        command_id = await self.journal.write(
            lambda tx, emit: tx.add_command(target, kind, mission_id, task_id, payload or {}))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ANSWER_TIMEOUT
        taken = False  # the owner took it before we gave up: its outcome is awaited once more
        while True:
            with self.store.read() as tx:
                outcome = tx.command_outcome(command_id)
            if outcome.done:
                if outcome.error:
                    raise error_for_code(outcome.code or "INTERNAL", outcome.error)
                return
            if loop.time() > deadline:
                silent = (f"the process running this mission ({target}) did not answer a {kind!r} command within "
                          f"{ANSWER_TIMEOUT:g}s")
                if taken:
                    raise ConflictError(f"{silent} after taking it: its outcome is unknown; look at the mission")
                # withdrawn, so that an owner waking up later does not carry out what the user was told failed
                if await self.journal.write(lambda tx, emit: tx.withdraw_command(command_id, "withdrawn", "CONFLICT")):
                    raise ConflictError(f"{silent}, so it was withdrawn: nothing was done. If that process is gone, "
                                        "its lease expires and the mission becomes resumable")
                taken, deadline = True, loop.time() + ANSWER_TIMEOUT
            await asyncio.sleep(POLL_SECONDS)

    async def serve(self) -> int:
        """Execute the commands addressed to this engine; returns how many."""
        with self.store.read() as tx:
            pending = tx.open_commands(self.owner)
        for command in pending:
            if not await self.journal.write(functools.partial(_claim, command.id)):
                continue  # its sender withdrew it (it gave up waiting): not to be done any more
            error: str | None = None
            code: str | None = None
            try:
                await self._handler(command)()
            except PolpoError as exc:
                error, code = exc.message, exc.code
            except Exception as exc:  # noqa: BLE001 - the sender gets the failure, this engine goes on
                error = f"the process running this mission failed unexpectedly on {command.kind!r}: " \
                        f"{type(exc).__name__}: {exc}"
                code = InternalError.code
            await self.journal.write(_finished(command.id, error, code))
        return len(pending)

    def _handler(self, command: CommandRow) -> Callable[[], Awaitable[Any]]:
        # a command without the id its kind needs finds nothing: NotFoundError, reported to its sender
        mission_id, task_id, payload = command.mission_id or "", command.task_id or "", command.payload
        handlers: dict[str, Callable[[], Awaitable[Any]]] = {
            "approve": lambda: self.engine.decide(task_id, True, payload.get("note")),
            "reject": lambda: self.engine.decide(task_id, False, payload.get("note")),
            "kill": lambda: self.engine.kill(task_id),
            "retry": lambda: self.engine.retry(task_id),
            "resume": lambda: self.engine.resume(mission_id, retry_failed=bool(payload.get("retryFailed"))),
            "abort": lambda: self.engine.abort(mission_id),
            "rerun": lambda: self.engine.rerun(mission_id, str(payload.get("fromTask", ""))),
        }
        if command.kind in self.more:
            return lambda: self.more[command.kind](command)
        if command.kind not in handlers:
            raise ConflictError(f"unknown command {command.kind!r}")
        return handlers[command.kind]


def _claim(command_id: int, tx: Tx, emit: Emit) -> bool:
    return tx.claim_command(command_id)


def _finished(command_id: int, error: str | None, code: str | None) -> WriteFn[None]:
    """The write that marks a command done with its outcome."""
    return lambda tx, emit: tx.finish_command(command_id, error, code)
