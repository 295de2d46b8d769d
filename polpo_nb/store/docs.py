"""Documents the store writes: a model's JSON, refused when no reader could read it back."""

from __future__ import annotations

from pydantic import BaseModel, ValidationError

from ..spec.validation import spec_error


def storable(model: type[BaseModel], doc: str) -> str:
    """`doc` if the store's reader will read it back. Serialising writes non-finite floats as `NaN` /
    `Infinity` (WireModel's `ser_json_inf_nan`), which no reader accepts: such a doc (only then, the
    check is a substring test) is validated, and refused as the caller's bad input."""
    if "NaN" in doc or "Infinity" in doc:
        try:
            model.model_validate_json(doc)
        except ValidationError as exc:
            raise spec_error(exc) from None
    return doc
