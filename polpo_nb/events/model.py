"""An event: a row of the store with a global integer id, rendered `evt_00042` on the wire."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..errors import SpecError

#: ids are SQLite integers (< 2**63): 18 ASCII digits (`\d` would take any script's, and int() reads them), never a
#: 4,301-digit int()
_EVENT_ID = re.compile(r"^(?:evt_)?([0-9]{1,18})$")


@dataclass(slots=True, frozen=True)
class Event:
    """A plain slotted class, not a pydantic model: ten are built per task on the hot path. Its wire
    schema is `StreamEvent` on the HTTP side."""

    id: int
    event: str
    data: dict[str, Any]

    @property
    def wire_id(self) -> str:
        return format_event_id(self.id)

    @property
    def timestamp(self) -> str:
        return str(self.data.get("timestamp", ""))

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.wire_id, "event": self.event, "data": self.data}


def format_event_id(n: int) -> str:
    return f"evt_{n:05d}"


def parse_event_id(value: str | int | None) -> int | None:
    """`42`, `"42"` and `"evt_00042"` all mean 42; empty means "from now"."""
    if value is None or value == "":
        return None
    if isinstance(value, int):
        return value
    match = _EVENT_ID.match(value.strip())
    if not match:
        raise SpecError([{"loc": ["lastEventId"], "msg": f"not an event id: {value!r} (use 42 or evt_00042)"}])
    return int(match.group(1))
