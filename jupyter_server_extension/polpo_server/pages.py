"""Pages of a list: `limit` and an opaque `cursor`, in the list's stable order (creation order).

Without them a list answers every record, as the seeds do. With `limit`, it answers at most that many,
and the `X-Next-Cursor` header (absent on the last page) is the `cursor` of the next page. A cursor
is the position after the page's last record, not an offset: records created between two pages come
on later pages, a deleted one is simply not there, and no record is answered twice or skipped. The
cursor is opaque (base64 of the position) so that its form can change; one that does not decode is
refused as bad input naming `cursor`.
"""

from __future__ import annotations

import base64
import binascii

#: The largest page; a client wanting everything omits `limit`.
MAX_LIMIT = 1000
#: The response header naming the next page's cursor.
NEXT_CURSOR = "X-Next-Cursor"
_PREFIX = "seq:"


def encode_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"{_PREFIX}{position}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The position a cursor stands for; ValueError (in the user's terms) for anything else."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if text.startswith(_PREFIX) and text[len(_PREFIX):].isdigit():
            return int(text[len(_PREFIX):])
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise ValueError(f"not a cursor of this list: send the {NEXT_CURSOR} header of the previous page")
