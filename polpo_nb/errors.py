"""The exceptions the library raises.

Every error carries a `code` from the wire contract (ARCHITECTURE.md §4) so the HTTP layer maps an
exception to a status and an envelope without knowing where it came from.
"""

from __future__ import annotations

from typing import Any


class PolpoError(Exception):
    """Base class: a message meant for the user and a contract error code."""

    code = "INTERNAL"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFoundError(PolpoError):
    code = "NOT_FOUND"


class ConflictError(PolpoError):
    code = "CONFLICT"


class IllegalTransitionError(ConflictError):
    """A status change that the task state machine (ARCHITECTURE.md §3) forbids."""


class SpecError(PolpoError):
    """An invalid mission, task, agent or config. `errors` lists `{loc, msg}` per offending field."""

    code = "BAD_REQUEST"

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        lines = [f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in errors]
        super().__init__("; ".join(lines), errors=errors)


class StoreError(PolpoError):
    """The project's state database cannot be opened or used (corrupt, locked, newer schema)."""
