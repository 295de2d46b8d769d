"""The engine's log lines on the command line: `polpo: ...` on stderr, as Python's last-resort handler
printed them, except what the command reports itself.

A run stopped because the store refused its writes is logged by the engine (an operator with nobody
waiting learns of it there) and raised to its waiter. `polpo run` and `polpo resume` are that waiter,
and print the error as their own last line: the log record of the run they follow is left out, not
said twice. The engine marks such records with the run's key (`run_key`)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


class _Following(logging.Filter):
    """Leaves out the records of a run's stop while a command follows its run (and reports it)."""

    depth = 0

    def filter(self, record: logging.LogRecord) -> bool:
        return not (self.depth and hasattr(record, "run_key"))


_following = _Following()
_installed: list[logging.Handler] = []


def install() -> None:
    """Once per process: `polpo_nb`'s warnings and errors on stderr, as `polpo: ...` lines."""
    if _installed:
        return
    handler = logging.StreamHandler()
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(message)s"))  # the engine's messages start with `polpo: `
    handler.addFilter(_following)
    logging.getLogger("polpo_nb").addHandler(handler)
    _installed.append(handler)


@contextmanager
def following() -> Iterator[None]:
    """While the command follows a run: that run's stop is the command's to print (it is raised to it)."""
    _following.depth += 1
    try:
        yield
    finally:
        _following.depth -= 1
