"""`Statements`: what the row mixins of `Tx` (chatrows.py, commandrows.py, eventlog.py, revisions.py, steps.py,
taskrows.py) run their SQL through. `Tx` inherits them all and defines these; each mixin stays a module
of one table's queries."""

from __future__ import annotations

import sqlite3
from typing import Any


class Statements:
    _c: sqlite3.Connection  # the transaction's connection (buffered rows are written to it at the flush)

    def _x(self, sql: str, args: Any = ()) -> sqlite3.Cursor:
        """A statement after the buffered rows are written (a read sees them)."""
        raise NotImplementedError

    def _w(self, sql: str, args: Any = ()) -> sqlite3.Cursor:
        """A write to a table the buffers never touch: no flush."""
        raise NotImplementedError
