"""Documents the store writes: a model's JSON, refused when no reader could read it back."""

from __future__ import annotations

import json

from pydantic import BaseModel, ValidationError

from ..errors import SpecError
from ..spec.jsonvalues import first_path
from ..spec.validation import spec_error

_CONSTANT = object()  # what a `NaN` / `Infinity` of a document parses to, to find where it is


def storable(model: type[BaseModel], doc: str) -> str:
    """`doc` if the store's reader (and every strict JSON reader: browsers, SQLite's json functions) will
    read it back. Serialising writes non-finite floats as `NaN` / `Infinity` (WireModel's
    `ser_json_inf_nan`): such a doc (only then, the check is a substring test) is validated, a typed
    field's problem refused in the model's terms, and one inside an untyped value (`data`) at its path."""
    if "NaN" in doc or "Infinity" in doc:
        try:
            model.model_validate_json(doc)
        except ValidationError as exc:
            raise spec_error(exc) from None
        path = first_path(json.loads(doc, parse_constant=lambda _: _CONSTANT), lambda v: v is _CONSTANT)
        if path is not None:
            raise SpecError([{"loc": path, "msg": "NaN or an infinity, which JSON cannot carry"}])
    return doc
