"""Glob filters on event names: `task:*`, `*`, `mission:created,mission:completed`."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache


class EventFilter:
    """Matches an event name against any of several glob patterns (`*` matches any run of characters)."""

    __slots__ = ("patterns", "_regex", "_simple")

    def __init__(self, patterns: str | Iterable[str] | None = None) -> None:
        if patterns is None:
            items: list[str] = ["*"]
        elif isinstance(patterns, str):
            items = [p.strip() for p in patterns.split(",") if p.strip()] or ["*"]
        else:
            items = [p.strip() for p in patterns if p.strip()]
        self.patterns = tuple(dict.fromkeys(items))
        self._regex = _compile(self.patterns)
        # The usual filters (`task:*`, `mission:*,schedule:*`, exact names) need no regex: every event of
        # the project is matched against every subscriber, so this is on the engine's hot path.
        self._simple = _simple(self.patterns)

    def matches(self, name: str) -> bool:
        if self._simple is not None:
            prefixes, names = self._simple
            return name.startswith(prefixes) or name in names
        return self._regex is not None and self._regex.match(name) is not None

    def __repr__(self) -> str:
        return f"EventFilter({','.join(self.patterns)!r})"


def _simple(patterns: tuple[str, ...]) -> tuple[tuple[str, ...], frozenset[str]] | None:
    """(prefixes, exact names) when every pattern is `prefix*` or has no `*`; else None (the regex)."""
    if any("*" in p[:-1] for p in patterns):
        return None
    return (tuple(p[:-1] for p in patterns if p.endswith("*")),
            frozenset(p for p in patterns if not p.endswith("*")))


@lru_cache(maxsize=256)
def _compile(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile("^(?:" + "|".join(_glob(p) for p in patterns) + ")$")


def _glob(pattern: str) -> str:
    """`a*b*c` as `a(?>.*?b).*c`: each middle piece is taken at its first occurrence and never
    reconsidered (an atomic group), which is always right for `*` globs. A plain `a.*b.*c` backtracks
    over every split of the name: polynomial in the number of stars, so a pattern of a few hundred
    stars took seconds per event name."""
    if "*" not in pattern:
        return re.escape(pattern)
    first, *middle, last = [re.escape(piece) for piece in pattern.split("*")]
    return first + "".join(f"(?>.*?{piece})" for piece in middle if piece) + ".*" + last
