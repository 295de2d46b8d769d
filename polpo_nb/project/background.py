"""What a project does while nobody calls it: follow other processes' commits, and keep the store small.

Several processes share one `.polpo/state.db` (a kernel, `polpo run`, a server). Each one delivers
the events the others commit to its own subscribers and serves the operator commands they write for
the runs it owns (`engine/commands.py`): `OtherProcesses` does both, sleeping on a change notification
of the database (`store/changes.py`), so an idle project costs nothing. Housekeeping prunes old events
and the durable steps of attempts that ended (`agents/steps.py`: a whole LLM conversation each), and
checkpoints the WAL, every few minutes.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable

from ..engine.commands import CommandRouter
from ..events.bus import EventBus
from ..store.changes import ChangeWatch, follow_changes
from ..store.journal import Emit, Journal
from ..store.sqlite import Store, Tx

HOUSEKEEPING_INTERVAL = 300.0


class OtherProcesses:
    """Deliver the events other processes commit, and serve the commands they write for our runs."""

    def __init__(self, store: Store, bus: EventBus, commands: CommandRouter, changes: ChangeWatch) -> None:
        self._store = store
        self._bus = bus
        self._commands = commands
        self.changes = changes
        self.looks = 0  # looks at the database (tests count idle wake-ups with it)

    async def follow(self) -> None:
        version = self._store.data_version()
        # What others committed since this process read its event cursor (opening the project) is not a
        # change of `version` any more: deliver it now, or it would wait for the next commit anywhere.
        await self._catch_up()

        async def look() -> bool:
            nonlocal version
            self.looks += 1
            current = self._store.data_version()
            if current == version:
                return False
            version = current
            await self._catch_up()
            return True

        try:
            await follow_changes(self.changes, look)
        finally:
            self.changes.close()

    async def _catch_up(self) -> None:
        """Deliver the events others committed since the bus's cursor; serve the commands for our runs."""
        self._bus.poll()
        await self._commands.serve()


async def housekeeping(store: Store, journal: Journal, retention: Callable[[], int]) -> None:
    """Every few minutes: `prune`, then checkpoint the WAL."""
    while True:
        await asyncio.sleep(HOUSEKEEPING_INTERVAL)
        await journal.write(functools.partial(prune, retention()))
        store.checkpoint()


def prune(keep: int, tx: Tx, emit: Emit) -> None:
    """Drop events beyond the newest `keep` (`eventRetention`) and the steps of attempts that ended."""
    tx.prune_events(keep)
    tx.prune_finished_steps()
