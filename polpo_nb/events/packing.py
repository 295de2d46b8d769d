"""A batch of events as bytes: the body of one `event_batches` row, and of one entry of the bus's ring.

One encoding for both, so the bus keeps the very bytes a commit wrote: the last thousand events of a run
held as objects lived long enough to reach the collector's oldest generation (their payloads too),
and their deaths there cost full collections; bytes are never walked by the collector.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from pydantic_core import to_json

from .model import Event

#: Events serialised at once when packing: a mission's save (two events per task) is compressed as it is
#: serialised, a piece at a time, rather than held whole as JSON first.
_PACK_PIECE = 512


class PackedEvents(NamedTuple):
    """Events `first`..`last` (consecutive ids), packed: a tuple of atoms, which the collector drops
    from its lists at its first pass."""

    first: int
    last: int
    body: bytes | str  # (str: a row migrated from the old table, one event as plain JSON; never in the ring)

    @property
    def size(self) -> int:
        return self.last - self.first + 1

    @classmethod
    def of(cls, events: Sequence[Event]) -> PackedEvents:
        """`events` (consecutive ids) packed."""
        return cls(events[0].id, events[-1].id, pack([(e.event, e.data) for e in events]))

    def events(self) -> Iterator[Event]:
        for offset, (name, data) in enumerate(unpack(self.body)):
            yield Event(id=self.first + offset, event=name, data=data)


def pack(events: Sequence[Sequence[Any]]) -> bytes:
    """`[[name, payload], ...]` (or pairs as tuples) as a row's body: compressed fast (level 1), the
    bytes a commit adds."""
    if len(events) <= _PACK_PIECE:
        return zlib.compress(to_json(events), 1)
    packer = zlib.compressobj(1)
    out = [packer.compress(b"[")]
    for start in range(0, len(events), _PACK_PIECE):
        piece = to_json(events[start:start + _PACK_PIECE])[1:-1]  # the piece's items, without its brackets
        out.append(packer.compress(b"," + piece if start else piece))
    out.append(packer.compress(b"]"))
    out.append(packer.flush())
    return b"".join(out)


def unpack(body: bytes | str) -> list[list[Any]]:
    """A row's events: compressed JSON, or plain JSON text for a row migrated from the old table."""
    return json.loads(zlib.decompress(body) if isinstance(body, bytes) else body)  # type: ignore[no-any-return]
