"""The base every wire model shares: camelCase on the wire, snake_case in Python."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class WireModel(BaseModel):
    """One model, three faces: Python attributes, the JSON of the API, the rows of the store."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    def to_wire(self, **kw: Any) -> dict[str, Any]:
        """The JSON the API speaks: camelCase, `None` dropped so payloads stay as small as the seeds'."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True, **kw)


def utcnow() -> str:
    """ISO 8601 UTC with a `Z`, the timestamp format of every payload."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
