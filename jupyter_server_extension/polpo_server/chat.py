"""`POST v1/chat/completions`: a chat turn rendered in OpenAI's format, as JSON or as an SSE stream.

The route's library call is `project.chat(...)` (see routes.py); this handler only renders: the answer
as a `chat.completion`, the stream as `chat.completion.chunk` events ending with `data: [DONE]`, and
every error — a bad body, no orchestrator model, an unknown agent or session, a missing key — in
OpenAI's error shape, so OpenAI SDKs raise their usual exceptions. The session id is in the
`X-Session-Id` response header and the `sessionId` field. A stream whose client goes away stops being
written, but the turn runs to its end and is stored.
"""

from __future__ import annotations

import contextlib
from typing import Any

from tornado import web
from tornado.iostream import StreamClosedError

from polpo_nb.chat import ChatStream
from polpo_nb.chat.completions import ChunkWriter, classify, completion, model_label, openai_error
from polpo_nb.errors import PolpoError, SpecError
from polpo_nb.spec import jsonbody

from .dialects import FLAT, code_of, dumps, status_of
from .failures import Failure, failure_of
from .route_handler import RouteHandler
from .routes import Call, Route
from .sse import SseResponse
from .stream_handlers import StreamMixin

SESSION_HEADER = "X-Session-Id"


class OpenAIFailure(Failure):
    """A failure with OpenAI's `code` and `param`."""

    def __init__(self, status: int, message: str, openai_code: str | None, param: str | None = None) -> None:
        super().__init__(code_of(status), message)
        self.status = status
        self.openai_code = openai_code
        self.param = param


class OpenAISse(SseResponse):
    """OpenAI's SSE: `data:` lines only, an opening chunk, `data: [DONE]` at the end (also after an error)."""

    def __init__(self, handler: Any, dialect: Any, opening: dict[str, Any]) -> None:
        super().__init__(handler, dialect)
        self.opening = opening

    async def start(self) -> None:
        await super().start()
        await self.data(self.opening)

    async def end(self) -> None:
        await self.data("[DONE]")

    async def fail(self, code: str, message: str = "Internal server error") -> None:
        await self.data(openai_error(status_of(code), message, FLAT.code(code)))
        await self.end()

    async def data(self, payload: Any) -> None:
        await self._write(f"data: {payload if isinstance(payload, str) else dumps(payload)}\n\n")


class ChatCompletionsHandler(StreamMixin, RouteHandler):
    def opens_stream(self) -> bool:
        """`stream: true` in the body (a body that is not JSON is refused later, and holds no slot)."""
        try:
            body = jsonbody.loads(self.request.body or b"{}")
        except SpecError:
            return False
        return isinstance(body, dict) and body.get("stream") is True

    async def make_call(self, route: Route, params: dict[str, str]) -> Call:
        call = await super().make_call(route, params)
        header = self.request.headers.get(SESSION_HEADER)
        if header and not call.body.session_id:
            call.body.session_id = header.strip()
        return call

    async def respond(self, route: Route, call: Call) -> None:
        try:
            result = await route.call(call)
        except PolpoError as exc:
            status, code, param = classify(exc)
            if status >= 500 and status != 502:  # ours: the client is told what the API says, the log the rest
                self.log.error("polpo: %s failed: %s", self.request.path, exc.message)
            raise OpenAIFailure(status, exc.message if status < 500 or status == 502 else failure_of(exc).message,
                                code, param) from None
        if isinstance(result, ChatStream):
            await self._stream(result, bool(call.body.stream_options and call.body.stream_options.include_usage))
            return
        self.set_header(SESSION_HEADER, result.session_id)
        self.set_header("Content-Type", "application/json")
        await self.finish(dumps(completion(result)))

    async def _stream(self, stream: ChatStream, include_usage: bool) -> None:
        self.set_header(SESSION_HEADER, stream.session_id)
        writer = ChunkWriter(stream.session_id, model_label(stream.model, stream.agent), include_usage)
        response = OpenAISse(self, self.dialect, writer.opening())

        async def emit(item: Any) -> None:
            for payload in writer.of(item):
                await response.data(payload)

        await self.stream(stream.__aiter__(), emit, response)  # a client that leaves: the turn goes on, stored
        with contextlib.suppress(StreamClosedError):
            await self.finish()

    def render_failure(self, failure: Failure) -> None:
        status = failure.status if isinstance(failure, OpenAIFailure) else status_of(failure.code)
        code = failure.openai_code if isinstance(failure, OpenAIFailure) else failure.code.lower()
        param = failure.param if isinstance(failure, OpenAIFailure) else None
        if param is None and failure.errors:
            param = ".".join(str(p) for p in failure.errors[0].get("loc", [])) or None
        if failure.code == "BAD_REQUEST" and not isinstance(failure, OpenAIFailure):
            code = "invalid_request"
        handler: Any = self
        handler.clear()
        handler.set_status(status)
        for name, value in failure.headers.items():
            handler.set_header(name, value)
        handler.set_header("Content-Type", "application/json")
        web.RequestHandler.finish(handler, dumps(openai_error(status, failure.message, code, param)))
