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

    @property
    def public_message(self) -> str:
        """What a client of the server (HTTP, chat, MCP) is told: the message, unless it names what stays
        on the server (its files)."""
        return self.message


class NotFoundError(PolpoError):
    code = "NOT_FOUND"


class ConflictError(PolpoError):
    code = "CONFLICT"


class ForeignRunError(ConflictError):
    """The run belongs to another live process; the command must travel to it through the store."""

    def __init__(self, message: str, owner: str) -> None:
        super().__init__(message, owner=owner)
        self.owner = owner


class ForbiddenError(PolpoError):
    """Allowed to someone, not to this caller: what a test key asks that could not run dry."""

    code = "FORBIDDEN"


class ProjectClosedError(ConflictError):
    """A call on a project that was closed (`project.close()`, the end of its `with` block): its engine
    is gone, so nothing can run or be read through it; its state is on disk for a project opened again."""

    def __init__(self) -> None:
        super().__init__("this project is closed (by project.close() or the end of its `with` block): "
                         "open it again with polpo.Project(path); its state is kept")


class IllegalTransitionError(ConflictError):
    """A status change that the task state machine (ARCHITECTURE.md §3) forbids."""


#: Problems a SpecError's message names; past them it counts. A mission of thousands of tasks with one
#: mistake repeated would otherwise print a message of hundreds of kilobytes (traceback, CLI, HTTP body).
MESSAGE_PROBLEMS = 10


class SpecError(PolpoError):
    """An invalid mission, task, agent or config. `errors` lists `{loc, msg}` per offending field, all of
    them; the message names the first `MESSAGE_PROBLEMS` and counts the rest."""

    code = "BAD_REQUEST"

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        lines = [f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in errors[:MESSAGE_PROBLEMS]]
        if len(errors) > MESSAGE_PROBLEMS:
            lines.append(f"and {len(errors) - MESSAGE_PROBLEMS:,} more problems (each one is in the error's `errors`)")
        super().__init__("; ".join(lines), errors=errors)


class InternalError(PolpoError):
    """An unexpected failure (a bug, not a refusal): what another process reports when a command it
    executed raised something that is not a PolpoError."""


class StoreError(PolpoError):
    """The project's state database cannot be opened or used (corrupt, locked, newer schema)."""


class StoreWriteError(StoreError):
    """The state database refused a write for a reason waiting does not cure: the disk is full, an I/O
    error, a read-only or damaged file. Nothing of that write was stored. A run that meets it stops (its
    progress cannot be recorded) and is resumed once the store can be written again.

    Its own code (HTTP 507), not INTERNAL: the cure is the operator's (free space, repair the file), and
    the request may be sent again as it was. `reason` is SQLite's words ("database or disk is full"),
    which a client may be told; the message names the file, which it is not."""

    code = "INSUFFICIENT_STORAGE"

    def __init__(self, message: str, reason: str = "", public: str = "") -> None:
        super().__init__(message, reason=reason)
        self.reason = reason
        self._public = public

    @property
    def public_message(self) -> str:
        """`public`, if given (a run stopped); else what a refused request is told."""
        if self._public:
            return self._public
        cause = f" ({self.reason})" if self.reason else ""
        return (f"the project's store cannot be written{cause}; nothing of this request was stored: free disk "
                "space (or repair the store), then send it again")


def error_for_code(code: str, message: str) -> PolpoError:
    """Rebuild an error that crossed a process boundary as its code (commands, HTTP clients). The code
    says only how to answer, not what failed: INTERNAL is an InternalError, never a StoreError, whose
    message would claim the database is at fault."""
    if code == SpecError.code:
        return SpecError([{"loc": [], "msg": message}])
    for cls in (NotFoundError, ConflictError, ForbiddenError, StoreWriteError):
        if cls.code == code:
            return cls(message)
    return InternalError(message)
