"""No secret in a log line: keys and tokens sent in a query string (`?token=`, the only way a browser's
EventSource or WebSocket can send one) or an `Authorization` header are masked in every record.

Tornado logs the URI of a request whose handler raised ("Uncaught exception GET /v1/ws?token=..."),
and so can anything else that formats a request. Rather than find each such line, a filter rewrites
every record of the loggers a server writes through, whatever logged it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

_QUERY = re.compile(r"(?i)((?<![\w-])(?:token|api_key|apikey|key|access_token|_xsrf)=)[^&\s'\"#]+")
_HEADER = re.compile(r"(?i)((?:authorization['\"]?\s*[:=,]\s*['\"]?)?\b(?:bearer|token)\s+)[^\s'\",]+")
MASK = "[redacted]"
#: The server's start-up banner prints its URL with the token for the person who started it (`jupyter
#: lab`, `make demo`): the one place they find it, so it is left whole (it names no request).
_BANNER = ("To access the server", " is running at:\n")

#: Where a server's records go through: tornado's loggers (access, application, general), Jupyter's
#: own, and ours.
LOGGERS = ("tornado", "tornado.access", "tornado.application", "tornado.general", "ServerApp", "PolpoServe",
           "polpo_server", "polpo_nb")


#: Every secret both patterns mask comes after one of these words: a record without any (most of them,
#: a busy server logs a few per request) is left as it is without running the two patterns over it.
_HINTS = ("token", "key", "_xsrf", "bearer")


def redact(text: str) -> str:
    lowered = text.lower()
    if not any(hint in lowered for hint in _HINTS):
        return text
    return _HEADER.sub(rf"\1{MASK}", _QUERY.sub(rf"\1{MASK}", text))


class _Masked:
    """A record's message, formatted and masked when something first reads it (`getMessage`): most
    records of a server are debug lines its handlers drop (Jupyter's logger passes DEBUG, its console
    handler does not), three per request, and formatting each only to drop it cost ~3 % of a busy
    server's time."""

    __slots__ = ("_msg", "_args", "_banner", "_text")

    def __init__(self, msg: object, args: object, banner: bool) -> None:
        self._msg, self._args, self._banner = msg, args, banner
        self._text: str | None = None

    def __str__(self) -> str:
        if self._text is None:
            message = str(self._msg)
            if self._args:
                message = message % self._args  # as LogRecord.getMessage; an error surfaces where it would
            self._text = message if self._banner and any(p in message for p in _BANNER) else redact(message)
        return self._text


class RedactSecrets(logging.Filter):
    """Makes the record's message masked once formatted (`_Masked`), without formatting it now."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not isinstance(record.msg, _Masked):  # a record meets the filter of its logger and of a handler
            record.msg, record.args = _Masked(record.msg, record.args, record.name == "ServerApp"), None
        return True


_FILTER = RedactSecrets()


def install(loggers: Iterable[logging.Logger]) -> None:
    """Put the filter on these loggers and on their handlers (a logger's filter sees only its own
    records; a handler's sees those of every child logger that propagates to it). Idempotent."""
    for logger in [*(logging.getLogger(name) for name in LOGGERS), *loggers]:
        for target in [logger, *logger.handlers]:
            if _FILTER not in target.filters:
                target.addFilter(_FILTER)


__all__ = ["RedactSecrets", "install", "redact"]
