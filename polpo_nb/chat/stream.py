"""`ChatStream`: the chunks of one chat turn, readable from any thread or event loop.

The turn runs on the project's engine loop (the Jupyter server's, or a notebook's engine thread); the
reader may be a tornado handler on that same loop, an `async for` on a kernel's loop, or a blocking
`for` in a script or a `%%polpo chat` cell. So the buffer is thread-safe and wakes each kind of reader
its own way (a condition for threads, a future on the reader's loop for coroutines). The turn does not
depend on being read: it runs to its end and is stored even if nobody iterates.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterator
from typing import Any

from ..errors import PolpoError
from .messages import ChatChunk, ChatReply

__all__ = ["ChatStream", "ChatTurnError"]


class ChatTurnError(PolpoError):
    """The turn failed after it started (the model or the agent failed); raised to readers."""

    code = "UPSTREAM"


class ChatStream:
    """Iterate with `for chunk in stream` or `async for chunk in stream`; each chunk is a ChatChunk
    (`text`, `tool_call`, `tool_result`, `output`, then `done` or `error`). `stream.session_id` is known
    at once; `stream.reply` once the turn is over (`stream.result()` waits for it)."""

    def __init__(self, session_id: str, *, model: str | None = None, agent: str | None = None) -> None:
        self.session_id = session_id
        self.model = model  # the model answering (None for a function agent)
        self.agent = agent
        self.reply: ChatReply | None = None
        self.task: asyncio.Task[Any] | None = None  # the turn, on the engine loop
        self._items: deque[ChatChunk] = deque()
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._closed = False
        self._error: ChatChunk | None = None

    # -- producer (the turn) -----------------------------------------------------------------------------

    def push(self, chunk: ChatChunk) -> None:
        with self._lock:
            if self._closed:
                return
            self._items.append(chunk)
            if chunk.kind in ("done", "error"):
                self._closed = True
                self.reply = chunk.reply
                self._error = chunk if chunk.kind == "error" else None
            self._ready.notify_all()
            waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            loop.call_soon_threadsafe(_wake, future)

    # -- readers --------------------------------------------------------------------------------------

    def _pop(self) -> ChatChunk | None:
        """The next chunk, None at the end; raises LookupError when nothing is there yet (lock held)."""
        if self._items:
            return self._items.popleft()
        if self._closed:
            return None
        raise LookupError

    def _orphaned(self) -> bool:
        """The turn can no longer end by itself: its loop stopped (the project closed) under it."""
        task = self.task
        if task is None or task.done():
            return task is not None
        return not task.get_loop().is_running()

    def _check_orphaned(self) -> None:
        if self._orphaned():
            self.push(ChatChunk(kind="error", error="the chat turn was cancelled", code="CANCELLED"))

    def __iter__(self) -> Iterator[ChatChunk]:
        while True:
            with self._ready:
                while True:
                    try:
                        chunk = self._pop()
                        break
                    except LookupError:
                        if not self._ready.wait(_WATCH_SECONDS) and self._orphaned():
                            self._ready.release()
                            try:
                                self._check_orphaned()
                            finally:
                                self._ready.acquire()
            if chunk is None:
                return
            yield chunk

    async def __aiter__(self) -> AsyncIterator[ChatChunk]:
        loop = asyncio.get_running_loop()
        while True:
            with self._lock:
                try:
                    chunk = self._pop()
                    future = None
                except LookupError:
                    future = loop.create_future()
                    self._waiters.append((loop, future))
            if future is not None:
                try:
                    async with asyncio.timeout(_WATCH_SECONDS):
                        await asyncio.shield(future)
                except TimeoutError:
                    self._check_orphaned()
                continue
            if chunk is None:
                return
            yield chunk

    def text(self) -> str:
        """Read to the end (blocking); the answer's text. Raises ChatTurnError if the turn failed."""
        parts = [c.text or "" for c in self if c.kind == "text"]
        self._raise()
        return "".join(parts)

    async def result(self) -> ChatReply:
        """Read to the end; the reply. Raises ChatTurnError if the turn failed."""
        async for _ in self:
            pass
        self._raise()
        assert self.reply is not None
        return self.reply

    def _raise(self) -> None:
        if self._error is not None:
            raise ChatTurnError(self._error.error or "the chat turn failed", code=self._error.code)

    def cancel(self) -> None:
        """Stop the turn (what was stored so far stays)."""
        if self.task is not None:
            self.task.get_loop().call_soon_threadsafe(self.task.cancel)


#: How often a waiting reader checks that the turn's loop still runs.
_WATCH_SECONDS = 0.5


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
