"""Errors as the API answers them: a `Failure` carries the contract code, the message and field errors.

Library errors (`PolpoError`) map to 400/403/404/409 in the user's terms, a store that refuses writes
(a full disk) to 507; anything else is an internal error whose details stay in the server's log.
"""

from __future__ import annotations

from http.client import responses
from typing import Any

from tornado import web

from polpo_nb.errors import PolpoError, SpecError

from .dialects import code_of, status_of


class Failure(Exception):
    """An error already classified: contract code, message, optional field errors."""

    def __init__(self, code: str, message: str, errors: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.errors = errors
        self.headers = headers or {}


class Refusal(web.HTTPError):
    """A Failure raised where tornado expects an HTTPError (`prepare`): rendered as the Failure it carries,
    and logged as a client error, not as an uncaught exception."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(status_of(failure.code), failure.message)
        self.failure = failure


#: The codes whose errors are told to the client as they are (`public_message`): the client's mistakes and
#: refusals, and a store that refuses writes (the operator's to cure; the request may be sent again).
_TOLD = frozenset({"BAD_REQUEST", "FORBIDDEN", "NOT_FOUND", "CONFLICT", "INSUFFICIENT_STORAGE"})


def failure_of(exc: BaseException) -> Failure:
    """A library error as the client sees it: its own code and message, or an opaque internal error."""
    if isinstance(exc, SpecError):
        return Failure("BAD_REQUEST", exc.message, exc.errors)
    if isinstance(exc, PolpoError) and exc.code in _TOLD:
        return Failure(exc.code, exc.public_message)
    return Failure("INTERNAL", "Internal server error")


def http_failure(status: int, exc: BaseException | None) -> Failure:
    """A tornado status (and its HTTPError, if any) as a Failure; a 500 never says more than that."""
    message = ""
    if isinstance(exc, web.HTTPError):
        message = exc.log_message % exc.args if exc.log_message and exc.args else (exc.log_message or "")
    code = code_of(status)
    if code == "INTERNAL":
        message = "Internal server error"
    return Failure(code, message or responses.get(status, "Error"))
