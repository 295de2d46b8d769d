"""Server-Sent Events over tornado: the response, the pump, and the execute streams.

`pump` forwards an async source to the client until the source ends or the client goes away,
writing a keep-alive comment while idle. Closing the source (an `AsyncProject.events()` iterator)
closes its bus subscription, so a client that disconnects leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from tornado.iostream import StreamClosedError
from tornado.web import RequestHandler

from polpo_nb import AsyncProject
from polpo_nb.events import Event

from .dialects import Dialect
from .streams import ExecuteStream

T = TypeVar("T")
log = logging.getLogger(__name__)

SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # nginx and friends: do not buffer the stream
    "Connection": "keep-alive",
}


class SseResponse:
    """The SSE side of a tornado handler. `closed` is set when the client disconnects."""

    def __init__(self, handler: RequestHandler, dialect: Dialect) -> None:
        self.handler = handler
        self.dialect = dialect
        self.closed = asyncio.Event()

    async def start(self) -> None:
        for name, value in SSE_HEADERS.items():
            self.handler.set_header(name, value)
        self.handler.set_status(200)
        await self._write(": connected\n")  # send the headers now: clients see the stream open

    async def send(self, name: str, data: Any, event_id: str | None = None) -> None:
        await self._write(self.dialect.sse(name, data, event_id))

    async def end(self) -> None:
        """After the source's last item: nothing to add in the dialects (the stream simply closes)."""

    async def fail(self, code: str, message: str = "Internal server error") -> None:
        """The stream broke, or may not go on, after it started: an `error` event, never a traceback."""
        await self.send("error", {"error": message, "code": self.dialect.code(code)})

    async def comment(self, text: str = "keep-alive") -> None:
        # a comment line alone, without the blank line that would end an (empty) event: some clients
        # (httpx-sse) would otherwise hand the application an event with no data
        await self._write(f": {text}\n")

    async def _write(self, chunk: str) -> None:
        if self.closed.is_set():
            raise StreamClosedError()
        self.handler.write(chunk)
        try:
            await self.handler.flush()
        except StreamClosedError:
            self.closed.set()
            raise


async def pump(source: AsyncIterator[T], emit: Callable[[T], Awaitable[None]], response: SseResponse,
               keepalive: float) -> None:
    """Forward `source` to `emit` until the source ends or the client leaves; keep-alive while idle."""

    async def forward() -> None:
        async for item in source:
            await emit(item)

    async def keep_alive() -> None:
        while True:
            await asyncio.sleep(keepalive)
            await response.comment()

    tasks = [asyncio.ensure_future(forward()), asyncio.ensure_future(keep_alive()),
             asyncio.ensure_future(response.closed.wait())]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            exc = None if task.cancelled() else task.exception()
            if exc is not None and not isinstance(exc, StreamClosedError):
                raise exc
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()


async def execute_events(project: AsyncProject, stream: ExecuteStream, subject_id: str, handle: Any,
                         after: int) -> AsyncIterator[tuple[str, Any, str | None]]:
    """(seed event name, data, id) for one run, from the events after `after` (the cursor before the
    run started) until it settles; then the stream's closing event (`done`, `mission:done`, or the
    pause as `mission:status`)."""
    events = project.events(None, after=after).__aiter__()
    settled: asyncio.Future[Any] = asyncio.ensure_future(handle.wait_async())
    upcoming: asyncio.Future[Event] = asyncio.ensure_future(events.__anext__())
    last = after
    phases: dict[Any, Any] = {}

    def convert(event: Event) -> tuple[str, Any, str | None] | None:
        mapped = stream.map(event.event, event.data, subject_id)
        if mapped is None:
            return None
        name, data = mapped
        if name == "phase":  # `phase` says when the phase changes (a fix is announced, then spawned)
            key = data.get("taskId")
            if phases.get(key) == data.get("phase"):
                return None
            phases[key] = data.get("phase")
        return name, data, event.wire_id

    try:
        while True:
            done, _ = await asyncio.wait({upcoming, settled}, return_when=asyncio.FIRST_COMPLETED)
            if upcoming in done:
                event = upcoming.result()
                last = event.id
                if (item := convert(event)) is not None:
                    yield item
                upcoming = asyncio.ensure_future(events.__anext__())
                continue
            record = settled.result()
            # Everything the run published before it settled is in the bus's ring by now; what this
            # stream has not consumed yet is replayed from there, in order, before the closing event.
            for event in project.replay(last):
                if (item := convert(event)) is not None:
                    yield item
            name, data = stream.finish(record)
            if stream.with_usage:
                data = {**data, "usage": (await project.mission_usage(record.id)).total.to_wire()}
            yield name, data, None
            return
    finally:
        for future in (upcoming, settled):
            future.cancel()
        await asyncio.wait({upcoming, settled})
        await events.aclose()  # type: ignore[attr-defined]  # an async generator: AsyncProject.events
