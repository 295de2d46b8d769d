"""ISO 8601 durations (`PT2H`, `P1DT30M`, `PT0.5S`) for mission delays."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+(?:\.\d+)?)W)?(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str) -> timedelta:
    """Weeks, days, hours, minutes, seconds; years and months are refused (their length varies)."""
    match = _DURATION.match(text.strip().upper())
    if not match or text.strip().upper() in ("P", "PT") or text.strip().upper().endswith("T"):
        raise ValueError(f"{text!r} is not an ISO 8601 duration such as PT2H, P1D or PT30M (years and months are not supported)")
    parts = {k: float(v) for k, v in match.groupdict().items() if v}
    return timedelta(**parts)
