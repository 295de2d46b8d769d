"""Per-key rate limits: requests per minute (a token bucket) and concurrent streams (a counter).

A bucket holds `limit` requests and refills at `limit` per minute, so a key may burst up to its limit
and then goes at the limit's pace; a request that finds it empty is refused with the seconds until
one request is allowed again (`Retry-After`). `X-RateLimit-Limit/Remaining/Reset` say the limit, what
is left now and the seconds until the bucket is full again. A stream (SSE, WebSocket) is one request,
plus a slot of the key's concurrent streams for as long as it is open. Limits are counted in this
server process.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from .failures import Failure

STREAM_RETRY_AFTER = 5  # seconds: a stream slot frees when another stream ends, which no clock predicts


@dataclass
class _Bucket:
    tokens: float
    stamp: float


@dataclass
class RateLimiter:
    """Buckets and stream counts by key (any hashable naming who asks, and where)."""

    clock: Any = time.monotonic
    _buckets: dict[Any, _Bucket] = field(default_factory=dict)
    _streams: dict[Any, int] = field(default_factory=dict)

    def take(self, who: Any, per_minute: int, *, count: bool = True) -> dict[str, str]:
        """Count one request of `who`: the X-RateLimit headers to answer, or a 429 Failure carrying them.
        `count=False`: the headers as they stand, nothing taken (a request refused for another reason)."""
        now = self.clock()
        rate = per_minute / 60.0
        bucket = self._buckets.get(who)
        if bucket is None:
            bucket = self._buckets[who] = _Bucket(float(per_minute), now)
        bucket.tokens = min(float(per_minute), bucket.tokens + (now - bucket.stamp) * rate)
        bucket.stamp = now
        allowed = bucket.tokens >= 1.0
        if allowed and count:
            bucket.tokens -= 1.0
        headers = {"X-RateLimit-Limit": str(per_minute), "X-RateLimit-Remaining": str(int(bucket.tokens)),
                   "X-RateLimit-Reset": str(math.ceil((per_minute - bucket.tokens) / rate))}
        if allowed or not count:
            return headers
        retry = max(1, math.ceil((1.0 - bucket.tokens) / rate))
        raise Failure("RATE_LIMITED", f"Too many requests: at most {per_minute} a minute for this key; retry in {retry} s",
                      headers={**headers, "Retry-After": str(retry)})

    def open_stream(self, who: Any, limit: int) -> None:
        """Hold one of `who`'s `limit` stream slots (a 429 Failure when all are taken)."""
        count = self._streams.get(who, 0)
        if count >= limit:
            raise Failure("RATE_LIMITED", f"Too many open streams: at most {limit} at once for this key; close one",
                          headers={"Retry-After": str(STREAM_RETRY_AFTER)})
        self._streams[who] = count + 1

    def close_stream(self, who: Any) -> None:
        count = self._streams.get(who, 0) - 1
        if count > 0:
            self._streams[who] = count
        else:
            self._streams.pop(who, None)

    def streams(self, who: Any) -> int:
        return self._streams.get(who, 0)
