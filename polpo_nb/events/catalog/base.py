"""The catalog's machinery: `CatalogEvent`, the `@event(name)` declaration, the registry and the
generated `to_wire` (the package docstring says why events are dataclasses)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar, dataclass_transform, get_type_hints

from pydantic import ConfigDict
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo


def _timestamp_on_the_wire(schema: dict[str, Any]) -> None:
    """Every payload on the stream carries its timestamp, given or stamped at commit."""
    schema.setdefault("required", []).append("timestamp")
    schema["properties"]["timestamp"] = {"type": "string", "description": "ISO 8601 time of the commit"}


@dataclasses.dataclass(slots=True, kw_only=True)
class CatalogEvent:
    """An event of the stream; subclasses are declared with `@event(name)`."""

    __pydantic_config__ = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid",
                                     json_schema_extra=_timestamp_on_the_wire)
    event: ClassVar[str] = ""
    timestamp: str | None = None

    def to_wire(self) -> dict[str, Any]:  # replaced per class by `event`
        raise NotImplementedError


#: Event name -> the classes that write it (two for the approvals: a task's and a checkpoint's).
CATALOG: dict[str, tuple[type[CatalogEvent], ...]] = {}

E = TypeVar("E", bound=CatalogEvent)


@dataclass_transform(kw_only_default=True)
def event(name: str) -> Callable[[type[E]], type[E]]:
    """Declare a catalog class: a keyword-only slotted dataclass, registered under `name`."""
    def declare(cls: type[E]) -> type[E]:
        cls.event = name
        cls = dataclasses.dataclass(slots=True, kw_only=True)(cls)
        cls.to_wire = _wire_function(cls)  # type: ignore[method-assign,assignment]
        CATALOG[name] = (*CATALOG.get(name, ()), cls)
        return cls
    return declare


def _wire_function(cls: type[CatalogEvent]) -> Callable[[CatalogEvent], dict[str, Any]]:
    """Generate `to_wire` for one class: a dict literal of the always-present fields, then one `if` per
    field left out while None (the way `dataclasses` generates `__init__`)."""
    hints = get_type_hints(cls, include_extras=True)
    always: list[str] = []
    optional: list[str] = []
    for f in dataclasses.fields(cls):
        if f.name == "timestamp":
            continue
        alias = next((m.alias for m in getattr(hints[f.name], "__metadata__", ()) if isinstance(m, FieldInfo) and m.alias),
                     to_camel(f.name))
        if f.default is None:
            optional.append(f"    if self.{f.name} is not None: d[{alias!r}] = self.{f.name}")
        else:
            always.append(f"{alias!r}: self.{f.name}")
    body = ["def to_wire(self):", "    d = {" + ", ".join(always) + "}", *optional,
            "    if self.timestamp is not None: d['timestamp'] = self.timestamp", "    return d"]
    namespace: dict[str, Any] = {}
    exec("\n".join(body), namespace)  # noqa: S102 - code built above from field names, nothing external
    function: Callable[[CatalogEvent], dict[str, Any]] = namespace["to_wire"]
    function.__qualname__ = f"{cls.__qualname__}.to_wire"
    return function
