"""Untyped JSON values (`data` of a mission or of a result): one check of what JSON cannot carry.

pydantic's `allow_inf_nan=False` covers the float fields a model declares, not the numbers inside a
field typed `Any`. A NaN or an infinity there is written `NaN` / `Infinity`, which no strict JSON reader
accepts (browsers' `JSON.parse`, SQLite's json functions: one such mission stopped every schedule look);
an object or a function cannot be written at all. So the models that hold such a value check it
(`json_value`), and the store checks every document it writes for the first again (store/docs.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from pydantic_core import PydanticCustomError, PydanticSerializationError, to_json

Step = str | int


def non_finite_path(value: Any) -> list[Step] | None:
    """The keys and indexes (outermost first) leading to the first NaN or infinity inside `value`
    (dicts, lists, tuples), or None. Only the one found is spelled: a value may hold thousands of
    numbers, all fine."""
    return first_path(value, lambda v: isinstance(v, float) and not math.isfinite(v))


def first_path(value: Any, bad: Callable[[Any], bool]) -> list[Step] | None:
    """The path to the first item of `value` for which `bad` is true, or None."""
    if bad(value):
        return []
    if isinstance(value, dict):
        pairs: Any = value.items()
    elif isinstance(value, list | tuple):
        pairs = enumerate(value)
    else:
        return None
    for step, item in pairs:
        found = first_path(item, bad)
        if found is not None:
            return [step, *found]
    return None


def spelled(name: str, path: list[Step]) -> str:
    """`data.rows[1]`: a path as the user would write it in Python or JavaScript."""
    return name + "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in path)


def json_value(value: Any, name: str) -> Any:
    """`value` (the field `name`), or a validation error: where it holds a NaN or an infinity, or that it
    holds something JSON cannot carry at all (an object, a function), which failed the store's write
    instead of the input."""
    path = non_finite_path(value)
    if path is not None:
        raise PydanticCustomError("non_finite_json", "{message}", {
            "message": f"{spelled(name, path)} is NaN or an infinity, which JSON cannot carry: use None or a string "
                       "there"})
    if value is not None and not isinstance(value, str | int | float | bool):
        try:  # what the store will write
            to_json(value)
        except PydanticSerializationError as exc:
            raise PydanticCustomError("not_json", "{message}", {
                "message": f"{name} holds a value JSON cannot carry ({exc}): use strings, numbers, booleans, None, "
                           "and lists and dicts of those"}) from None
    return value
