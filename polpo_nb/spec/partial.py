"""A model's "any subset of its fields" twin: what an update names (PATCH bodies, the chat's update
tools). One builder, so that both faces describe an update the same way."""

from __future__ import annotations

from typing import Any, Optional

from pydantic import Field, create_model

from ._base import WireModel


def partial_model(model: type[WireModel], name: str, *, base: type[WireModel] = WireModel,
                  exclude: frozenset[str] = frozenset()) -> type[WireModel]:
    """`model` with every field optional and defaulting to None (only the fields given change). Used to
    document and name an update's fields; the values are validated against the full model merged with
    what is stored."""
    fields: dict[str, Any] = {
        key: (Optional[field.annotation], Field(default=None, description=field.description))  # noqa: UP045 - a runtime type, not an annotation
        for key, field in model.model_fields.items()
        if key not in exclude
    }
    return create_model(name, __base__=base, __doc__=f"Any subset of the fields of {model.__name__}.", **fields)
