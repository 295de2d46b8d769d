"""Bounds on what one request may cost: the size of a body, and what a client may ask of the event
stream (glob patterns are compiled to regexes and matched against every event, so their length and
number are what a subscriber costs the server). Nesting depth is `jsonbody.MAX_DEPTH`."""

from __future__ import annotations

from typing import Any

from polpo_nb.errors import SpecError

#: Bytes of one request body (a mission of a thousand tasks is well under 1 MiB).
MAX_BODY_BYTES = 8 * 1024 * 1024

#: Characters in one event-name glob (`task:*`; the longest event name is under 40).
MAX_PATTERN_LENGTH = 200
#: Globs one WebSocket (or one `?filter=`) may hold at once.
MAX_PATTERNS = 64


def check_patterns(patterns: Any, loc: str = "pattern") -> list[str]:
    """`patterns` (one glob, or a list of them) stripped, or a SpecError saying what is wrong."""
    if isinstance(patterns, str):
        patterns = [patterns]
    if not isinstance(patterns, list) or not patterns or not all(isinstance(p, str) and p.strip() for p in patterns):
        raise SpecError([{"loc": [loc], "msg": "a glob such as task:* (or `patterns`: a list of them)"}])
    if len(patterns) > MAX_PATTERNS:
        raise SpecError([{"loc": [loc], "msg": f"{len(patterns)} patterns: at most {MAX_PATTERNS}"}])
    for i, pattern in enumerate(patterns):
        if len(pattern) > MAX_PATTERN_LENGTH:
            raise SpecError([{"loc": [loc, i], "msg": f"a pattern of {len(pattern)} characters: at most "
                              f"{MAX_PATTERN_LENGTH}"}])
    return [p.strip() for p in patterns]


__all__ = ["MAX_BODY_BYTES", "MAX_PATTERNS", "MAX_PATTERN_LENGTH", "check_patterns"]
