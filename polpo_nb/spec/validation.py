"""Pydantic's validation errors as ours: one SpecError, with camelCase paths and messages in the
user's terms. Its own module, below every model, so that the models' base class can use it."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from types import MappingProxyType
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError, ValidationInfo

from ..errors import SpecError
from .messages import explain

M = TypeVar("M", bound=BaseModel)

#: The validation context of a record read back from the store (`model_validate_json(doc, context=STORED)`):
#: a rule added to refuse new input must not make what an earlier version stored unreadable.
STORED: Mapping[str, Any] = MappingProxyType({"stored": True})  # read-only: one object every read shares


def stored_but(given: Collection[str]) -> Mapping[str, Any]:
    """The context of a stored record whose fields `given` (a PATCH's, snake_case) are new input: those
    are checked as input, the others read as they were stored."""
    return MappingProxyType({"stored": True, "given": frozenset(given)})


def is_stored(info: ValidationInfo) -> bool:
    """Whether this field's value is read as stored (`STORED`, or `stored_but` another field) rather than
    checked as new input."""
    context = info.context
    if not (context and context.get("stored")):
        return False
    return info.field_name not in context.get("given", ())


def spec_error(exc: ValidationError, prefix: tuple[str | int, ...] = (),
               model: type[BaseModel] | None = None) -> SpecError:
    """A pydantic error as our SpecError: camelCase field paths, including the precise path of graph
    problems (which pydantic would otherwise report at the model's root), and, given the model that
    validated, messages in the user's terms (`messages.explain`: unknown keys with a suggestion, ranges)."""
    errors: list[dict[str, Any]] = []
    for err in exc.errors():
        own_loc, msg = explain(model, dict(err))
        loc = [*prefix, *own_loc]
        ctx = err.get("ctx") or {}
        if err["type"] == "mission_graph":
            loc = [*loc, *(int(p) if p.isdigit() else p for p in ctx["path"].split("."))]
            msg = ctx["message"]
        errors.append({"loc": loc, "msg": msg})
    return SpecError(errors)


def parse(model: type[M], data: Any, *, prefix: tuple[str | int, ...] = (),
          context: Mapping[str, Any] | None = None) -> M:
    """`model.model_validate(data)` raising SpecError, the one exception type for invalid input."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise spec_error(exc, prefix, model) from None
