"""Reading the catalog: a payload validated against its class, the stream's discriminated union and
its JSON schema (referenced by the OpenAPI document)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Field, TypeAdapter, create_model

from . import missions, project, tasks  # noqa: F401 - every family registered before the union is built
from .base import CATALOG, CatalogEvent

_ADAPTERS: dict[str, TypeAdapter[Any]] = {}


def validate_event(name: str, data: dict[str, Any]) -> CatalogEvent:
    """The typed event a payload of the stream is; ValueError (pydantic's ValidationError is one) when
    the name is not in the catalog or the payload is not its class's."""
    if name not in CATALOG:
        raise ValueError(f"{name!r} is not an event of the catalog")
    if name not in _ADAPTERS:
        classes = CATALOG[name]
        target: Any = classes[0] if len(classes) == 1 else Union[classes]  # noqa: UP007 - a runtime tuple
        _ADAPTERS[name] = TypeAdapter(target)
    value: CatalogEvent = _ADAPTERS[name].validate_python(data)
    return value


_ID = Field(None, description="`evt_00042`: in WebSocket messages; an SSE stream sends it as the `id:` line")


def stream_event_type() -> Any:
    """The stream's event type: `{id, event, data}` discriminated by `event`, one member per name."""
    members = []
    for name, classes in CATALOG.items():
        payload: Any = classes[0] if len(classes) == 1 else Annotated[Union[classes], Field(discriminator="kind")]  # noqa: UP007
        title = "".join(part.title() for part in name.replace("_", ":").split(":")) + "Event"
        tag: Any = Literal[name]
        members.append(create_model(title, __doc__=f"`{name}` on the stream.", id=(str | None, _ID),
                                    event=(tag, ...), data=(payload, ...)))
    return Annotated[Union[tuple(members)], Field(discriminator="event")]  # noqa: UP007


def stream_event_schema(ref_template: str = "#/$defs/{model}") -> dict[str, Any]:
    """JSON schema of one stream event (OpenAPI: pass `#/components/schemas/{model}` and add `$defs`
    to the components)."""
    return TypeAdapter(stream_event_type()).json_schema(ref_template=ref_template, by_alias=True)

