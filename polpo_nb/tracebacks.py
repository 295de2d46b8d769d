"""Tracebacks as a user reads them: their own code first.

The engine records a failed attempt's whole traceback (`attempt_error`), which starts with the
frames that called the agent: polpo's engine and executors, asyncio's tasks, concurrent.futures' worker
thread. Those say nothing to the user and push their `raise` far below. `fold` collapses each run of
such frames into one line (`… 5 polpo/asyncio frames hidden`), so the first frame shown is the user's.
The stored text stays whole (the log and the API keep every frame); faces fold it when they show it.
An error that is its own report (`own_traceback`: a notebook cell's error, a worker's traceback coming
back from Dask) is stored as its message alone (`attempt_error`): there, polpo's frames are all noise.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import re
import threading
import traceback
from pathlib import Path

_FRAME = re.compile(r'^ {2}File "(?P<path>[^"]+)", line \d+, in ')
#: Where the frames of the machinery that runs an agent live.
_MACHINERY = tuple(
    str(p) for p in (
        Path(__file__).resolve().parent,  # polpo_nb
        Path(asyncio.__file__).resolve().parent,
        Path(concurrent.futures.__file__).resolve().parent,
        Path(threading.__file__).resolve(),
    )
)


def attempt_error(exc: BaseException) -> str:
    """The text a failed attempt stores for `exc`: its whole traceback; but an error whose message already
    is the user's own report (`own_traceback = True`, e.g. a notebook cell's error, which carries the
    kernel's traceback) is stored as that message alone, so the user's frames come first, not polpo's."""
    if getattr(exc, "own_traceback", False):
        return str(exc)
    return "".join(traceback.format_exception(exc))


def is_machinery(path: str) -> bool:
    """True for a frame of polpo, asyncio, concurrent.futures or threading (not the user's code)."""
    try:
        resolved = os.path.realpath(path)
    except (OSError, ValueError):
        return False
    return any(resolved == root or resolved.startswith(root + os.sep) for root in _MACHINERY)


def fold(text: str) -> str:
    """The traceback with each run of machinery frames folded into one line; unchanged when it is not a
    traceback or when every frame is machinery (then the error is polpo's own, and its frames matter)."""
    lines = text.splitlines()
    frames = _frames(lines)
    if not frames or all(hidden for _, _, hidden in frames) or not any(hidden for _, _, hidden in frames):
        return text
    out: list[str] = []
    run = 0
    position = 0
    for start, end, hidden in frames:
        out.extend(lines[position:start])
        if hidden:
            run += 1
        else:
            if run:
                out.append(_folded(run))
                run = 0
            out.extend(lines[start:end])
        position = end
        if run and (position >= len(lines) or not _FRAME.match(lines[position])):
            out.append(_folded(run))  # the run ends with the block (the exception line follows)
            run = 0
    out.extend(lines[position:])
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def _folded(count: int) -> str:
    return f"  … {count} polpo/asyncio frame{'s' if count != 1 else ''} hidden"


def _frames(lines: list[str]) -> list[tuple[int, int, bool]]:
    """(first line, end line, hidden) of each frame: its `File ...` line and the indented lines after it."""
    out = []
    i = 0
    while i < len(lines):
        match = _FRAME.match(lines[i])
        if not match:
            i += 1
            continue
        end = i + 1
        while end < len(lines) and lines[end].startswith("    "):
            end += 1
        out.append((i, end, is_machinery(match["path"])))
        i = end
    return out
