"""The rows of commands for a run another process owns (`commands` table), mixed into `Tx`.

A command is `done` 0 while open, 2 once its owner took it to carry it out, 1 when answered (or
withdrawn by its sender, who gave up waiting): `engine/commands.py` gives them their meaning.
"""

from __future__ import annotations

import json
from typing import Any

from .rows import CommandOutcome, CommandRow
from .statements import Statements


class CommandRows(Statements):
    """The command queries of a transaction (`Tx` inherits them)."""

    def add_command(self, owner: str, kind: str, mission_id: str | None, task_id: str | None, payload: dict[str, Any]) -> int:
        cur = self._w("INSERT INTO commands (owner, kind, mission_id, task_id, payload) VALUES (?, ?, ?, ?, ?)",
                      (owner, kind, mission_id, task_id, json.dumps(payload)))
        return int(cur.lastrowid or 0)

    def open_commands(self, owner: str) -> list[CommandRow]:
        rows = self._x("SELECT id, kind, mission_id, task_id, payload FROM commands WHERE done = 0 AND owner = ? ORDER BY id",
                       (owner,)).fetchall()
        return [CommandRow(i, k, m, t, json.loads(p)) for i, k, m, t, p in rows]

    def claim_command(self, command_id: int) -> bool:
        """The owner takes an open command to carry it out (`done` 2); False if it was withdrawn meanwhile."""
        return self._w("UPDATE commands SET done = 2 WHERE id = ? AND done = 0", (command_id,)).rowcount == 1

    def withdraw_command(self, command_id: int, error: str, code: str) -> bool:
        """Its sender gives up on an open command: closed with `error`; False if the owner took it first."""
        return self._w("UPDATE commands SET done = 1, error = ?, error_code = ? WHERE id = ? AND done = 0",
                       (error, code, command_id)).rowcount == 1

    def finish_command(self, command_id: int, error: str | None = None, code: str | None = None) -> None:
        self._w("UPDATE commands SET done = 1, error = ?, error_code = ? WHERE id = ?", (error, code, command_id))

    def command_outcome(self, command_id: int) -> CommandOutcome:
        row = self._x("SELECT done, error, error_code FROM commands WHERE id = ?", (command_id,)).fetchone()
        if row is None:
            return CommandOutcome(True, "command vanished", "INTERNAL")
        done, error, code = row
        return CommandOutcome(done == 1, error, code)  # (2: taken, under way)
