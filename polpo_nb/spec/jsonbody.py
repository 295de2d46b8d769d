"""The one JSON parser of every request body, WebSocket message and `polpo mcp` line: JSON as RFC 8259
says, no more.

Python's `json.loads` is lenient where the server cannot afford it: it accepts `NaN`, `Infinity` and
turns `1e999` into `inf` (none of which JSON has, so a value holding one can be neither answered nor
stored and read back), lets `"\\ud800"` through as a lone surrogate (which no UTF-8 writer accepts:
SQLite, files, the answer itself), recurses once per nesting level (1,000 levels raise
RecursionError), and keeps the last of a key given twice in one object. `loads` refuses all of these with
a SpecError naming where the problem is, so each handler answers 400 before anything is written; a
mission file says the same of the same JSON (`loads_json`).
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import SpecError
from .datafile import DuplicateKeyError, loads_json

#: Deepest nesting accepted (a mission with tasks, expectations and dimensions is under 10 levels).
MAX_DEPTH = 64


def _bad(loc: list[str | int], msg: str) -> SpecError:
    return SpecError([{"loc": loc, "msg": msg}])


def loads(raw: bytes | str, where: str = "body") -> Any:
    """Parse `raw` strictly; SpecError with `loc` pointing at the offending value (prefixed `where`)."""
    try:
        data = loads_json(raw)  # NaN, Infinity: floats the walk below names
    except DuplicateKeyError as exc:
        raise _bad([where], str(exc)) from None
    except RecursionError:
        raise _bad([where], f"nested more than {MAX_DEPTH} levels deep") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise _bad([where], f"invalid JSON: {exc}") from None
    check(data, where)
    return data


def check(data: Any, where: str = "body") -> None:
    """Walk a parsed value (iteratively: depth must not cost stack) for what JSON cannot carry."""
    stack: list[tuple[Any, list[str | int]]] = [(data, [])]
    while stack:
        value, path = stack.pop()
        if len(path) > MAX_DEPTH:
            raise _bad([where], f"nested more than {MAX_DEPTH} levels deep")
        if isinstance(value, float):
            if not math.isfinite(value):
                raise _bad(path or [where], f"{value} is not a number JSON has (numbers are finite: no NaN, no Infinity)")
        elif isinstance(value, str):
            _text(value, path or [where])
        elif isinstance(value, dict):
            for key, item in value.items():
                _text(key, [*path, "<key>"])
                stack.append((item, [*path, key]))
        elif isinstance(value, list):
            stack.extend((item, [*path, i]) for i, item in enumerate(value))


def _text(value: str, loc: list[str | int]) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _bad(loc, "text holds a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff escape)") from None


__all__ = ["MAX_DEPTH", "check", "loads"]
