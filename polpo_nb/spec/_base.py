"""The base every wire model shares: camelCase on the wire, snake_case in Python."""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class WireModel(BaseModel):
    """One model, three faces: Python attributes, the JSON of the API, the rows of the store."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    def to_wire(self, **kw: Any) -> dict[str, Any]:
        """The JSON the API speaks: camelCase, `None` dropped so payloads stay as small as the seeds'."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True, **kw)


def to_jsonable(value: Any) -> Any:
    """Any library result as wire JSON (models camelCase without nulls, containers recursively): what
    the HTTP API answers and what the chat orchestrator's tools hand the model."""
    if isinstance(value, WireModel):
        return value.to_wire()
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    return value


_second: list[Any] = [None, ""]


def utcnow() -> str:
    """ISO 8601 UTC with milliseconds and a `Z`, the timestamp of every payload. Called about ten times
    per task, so the formatted second is cached: strftime alone cost more than the SQLite insert."""
    now = time.time()
    second = int(now)
    if _second[0] != second:
        _second[1] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _second[0] = second
    return f"{_second[1]}.{int((now - second) * 1000):03d}Z"
