"""Rendered answers of read routes, reused while the project's state is unchanged.

A dashboard polling `GET tasks` on a 1,000-task project would otherwise re-read and re-serialise
~360 KB per request. The key is the request (dialect, route, path and query arguments); the entry is
valid for one `AsyncProject.state_version()` token, which changes on any commit by any process, so
an answer is never staler than a fresh read. Concurrent misses of one key share one rendering. The
same token gives the ETag, so clients that send `If-None-Match` get a 304.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable

MAX_ENTRIES = 64


class RenderCache:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[str, bytes]] = OrderedDict()
        self._rendering: dict[tuple[Hashable, str], asyncio.Future[bytes]] = {}
        self.hits = 0
        self.misses = 0

    @staticmethod
    def etag(key: Hashable, version: str) -> str:
        return 'W/"' + hashlib.sha1(repr((key, version)).encode()).hexdigest()[:20] + '"'

    async def get(self, key: Hashable, version: str, render: Callable[[], Awaitable[bytes]]) -> bytes:
        entry = self._entries.get(key)
        if entry is not None and entry[0] == version:
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[1]
        pending = self._rendering.get((key, version))
        if pending is not None:
            self.hits += 1
            return await asyncio.shield(pending)
        self.misses += 1
        future: asyncio.Future[bytes] = asyncio.ensure_future(render())
        self._rendering[(key, version)] = future
        try:
            body = await asyncio.shield(future)
        finally:
            self._rendering.pop((key, version), None)
        self._entries[key] = (version, body)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return body

    def clear(self) -> None:
        self._entries.clear()
