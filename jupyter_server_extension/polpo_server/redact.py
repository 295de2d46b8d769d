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


class RedactSecrets(logging.Filter):
    """Formats the record once, masks secrets, and keeps the result as the record's message."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a record that cannot be formatted is the logging module's to report
            return True
        if record.name == "ServerApp" and any(phrase in message for phrase in _BANNER):
            return True
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
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
