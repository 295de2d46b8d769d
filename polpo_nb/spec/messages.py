"""Pydantic's validation errors in the user's terms.

Pydantic reports what its validators saw ("Extra inputs are not permitted", "Input should be less than
or equal to 5", "Input tag 'nope' found using _expectation_kind() ..."). A user needs to know what to
write instead: the key they probably meant, the whole allowed range, the types that exist. Each error is
explained against the model it was validated with, by following its `loc` through the model's fields
(union tags in the `loc` are not keys the user wrote, so they are dropped from it).
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable
from typing import Any, Union

from pydantic import BaseModel, Tag
from pydantic.fields import FieldInfo


class _Place:
    """What a `loc` prefix points at: the types it may hold, and the field it is (if it is one)."""

    def __init__(self, types_: list[Any], field: FieldInfo | None = None) -> None:
        self.types = types_
        self.field = field


def _expand(tp: Any) -> list[tuple[Any, str | None]]:
    """A type as its alternatives, each with its union tag: unions and Annotated unwrapped."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        inner, *meta = typing.get_args(tp)
        tag = next((m.tag for m in meta if isinstance(m, Tag)), None)
        return [(t, tag or inner_tag) for t, inner_tag in _expand(inner)]
    if origin in (Union, types.UnionType):
        return [alt for arg in typing.get_args(tp) for alt in _expand(arg)]
    return [(tp, None)]


def _field(model: type[BaseModel], key: str) -> FieldInfo | None:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return info
    return None


def _step(place: _Place, part: str | int) -> tuple[_Place, bool]:
    """Follow one `loc` part; the flag is True when the part was a union tag, not a key."""
    alternatives = [alt for tp in place.types for alt in _expand(tp)]
    tagged = [tp for tp, tag in alternatives if tag is not None and tag == part]
    if tagged:
        return _Place(tagged), True
    found: list[Any] = []
    field: FieldInfo | None = None
    for tp, _ in alternatives:
        origin = typing.get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(part, str):
            info = _field(tp, part)
            if info is not None:
                found.append(info.annotation)
                field = info
        elif origin in (list, tuple, set, frozenset) and isinstance(part, int):
            found.extend(typing.get_args(tp)[:1])
        elif origin is dict and isinstance(part, str):
            found.extend(typing.get_args(tp)[1:2])
    return _Place(found, field), False


def _walk(model: type[BaseModel], loc: Iterable[str | int]) -> tuple[_Place, list[str | int]]:
    """The place `loc` points at, and `loc` without its union tags."""
    place, kept = _Place([model]), []
    for part in loc:
        place, was_tag = _step(place, part)
        if not was_tag:
            kept.append(part)
    return place, kept


def _keys(place: _Place) -> list[str]:
    """The keys a mapping at `place` may have: each field's wire name (camelCase)."""
    keys: list[str] = []
    for tp, _ in (alt for t in place.types for alt in _expand(t)):
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            keys += [info.alias or name for name, info in tp.model_fields.items()]
    return list(dict.fromkeys(keys))


def _suggest(key: str, keys: list[str]) -> str | None:
    """The known key closest to `key`, ignoring case and underscores (`depends_on`, `dependson`)."""
    folded = {k.lower().replace("_", ""): k for k in keys}
    match = difflib.get_close_matches(key.lower().replace("_", ""), list(folded), n=1, cutoff=0.6)
    return folded[match[0]] if match else None


def _bounds(field: FieldInfo | None) -> str | None:
    """The field's whole allowed range, in words: pydantic names only the bound that was crossed."""
    found: dict[str, Any] = {}
    for meta in field.metadata if field else ():
        for name in ("ge", "gt", "le", "lt"):
            if isinstance(getattr(meta, name, None), int | float):
                found[name] = getattr(meta, name)
    if "ge" in found and "le" in found:
        return f"must be from {found['ge']} to {found['le']}"
    words = {"ge": "at least", "gt": "more than", "le": "at most", "lt": "less than"}
    parts = [f"{words[name]} {value}" for name, value in found.items()]
    return "must be " + " and ".join(parts) if parts else None


def explain(model: type[BaseModel] | None, error: dict[str, Any]) -> tuple[list[str | int], str]:
    """`(loc, message)` for one pydantic error of `model.model_validate`: the loc without union tags,
    the message saying what to write instead where pydantic's does not."""
    loc = list(error["loc"])
    msg: str = error["msg"]
    kind = error["type"]
    if kind == "union_tag_invalid":
        ctx = error.get("ctx") or {}
        msg = f"unknown type {ctx.get('tag')!r}; the types are {ctx.get('expected_tags')}"
    if model is None:
        return loc, msg
    if kind == "extra_forbidden" and loc and isinstance(loc[-1], str):
        parent, kept = _walk(model, loc[:-1])
        keys = _keys(parent)
        suggestion = _suggest(loc[-1], keys)
        if suggestion:
            msg = f"unknown key {loc[-1]!r} (did you mean {suggestion!r}?)"
        elif keys:
            msg = f"unknown key {loc[-1]!r}; the keys here are: {', '.join(keys)}"
        else:
            msg = f"unknown key {loc[-1]!r}"
        return [*kept, loc[-1]], msg
    place, kept = _walk(model, loc)
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        bounds = _bounds(place.field)
        if bounds:
            msg = f"{bounds}, not {error.get('input')!r}"
    return kept, msg
