"""A loopback OpenAI-compatible chat-completions server that answers from a script.

For offline demos, tests and the overhead benchmark: point a provider at it
(`{"providers": {"local": {"baseUrl": server.base_url}}}`, then `model: "local:any-name"`) and every
request goes through the real client, HTTP and parsing code. `reply(body)` receives the request's JSON
and returns the assistant message (`text(...)` or `tool_calls(...)`); `latency` seconds are slept per
completion to stand in for the model. `stream: true` requests get the same message as SSE chunks. It binds 127.0.0.1 only.
Each answer reports token usage: by default about a token per four characters; `usage(body, message)`
may report any usage instead (an OpenAI `usage` object, e.g. with `prompt_tokens_details.cached_tokens`),
and `reported` keeps what was reported, request by request, for tests that check the accounting.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["LoopbackOpenAI", "Reply", "last_message", "text", "tool_call", "tool_names"]

Reply = Callable[[dict[str, Any]], dict[str, Any]]


def text(content: str) -> dict[str, Any]:
    """An assistant message that ends the turn."""
    return {"role": "assistant", "content": content}


def tool_call(name: str, arguments: dict[str, Any], *more: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    """An assistant message calling one tool (or several: pass more `(name, arguments)` pairs)."""
    calls = [(name, arguments), *more]
    return {"role": "assistant", "content": None, "tool_calls": [
        {"id": f"call_{_ids.__next__()}", "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
        for n, a in calls
    ]}


def tool_names(body: dict[str, Any]) -> list[str]:
    return [t["function"]["name"] for t in body.get("tools") or [] if t.get("type") == "function"]


def last_message(body: dict[str, Any]) -> dict[str, Any]:
    return (body.get("messages") or [{}])[-1]


_ids = itertools.count(1)


class LoopbackOpenAI:
    """`with LoopbackOpenAI(reply) as server: ...`; `server.requests` holds every request received."""

    def __init__(self, reply: Reply | None = None, *, latency: float = 0.0,
                 usage: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]] | None = None) -> None:
        self.reply = reply or (lambda body: text("ok"))
        self.latency = latency
        self.usage = usage
        self.reported: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.busy_seconds = 0.0  # time spent answering, latency included
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start the server first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> LoopbackOpenAI:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                started = time.perf_counter()
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    return self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
                with owner._lock:
                    owner.requests.append(body)
                    owner.headers.append({k.lower(): v for k, v in self.headers.items()})
                if owner.latency:
                    time.sleep(owner.latency)
                try:
                    message = owner.reply(body)
                except Exception as exc:  # noqa: BLE001 - a script bug shows up as a 500 the client reports
                    return self._send(500, {"error": {"message": f"{type(exc).__name__}: {exc}", "type": "server_error"}})
                prompt = sum(len(json.dumps(m)) for m in body.get("messages") or []) // 4
                completion = len(json.dumps(message)) // 4
                usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
                if owner.usage is not None:
                    usage = owner.usage(body, message)
                with owner._lock:
                    owner.reported.append(usage)
                finish = "tool_calls" if message.get("tool_calls") else "stop"
                if body.get("stream"):
                    self._stream(body, message, finish, usage)
                else:
                    self._send(200, {
                        "id": f"chatcmpl-{next(_ids)}", "object": "chat.completion", "created": int(time.time()),
                        "model": body.get("model", "loopback"),
                        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                        "usage": usage,
                    })
                with owner._lock:
                    owner.busy_seconds += time.perf_counter() - started

            def _stream(self, body: dict[str, Any], message: dict[str, Any], finish: str,
                        usage: dict[str, Any]) -> None:
                """`stream: true`: the same message as chat.completion.chunk events, the text word by word."""
                head = {"id": f"chatcmpl-{next(_ids)}", "object": "chat.completion.chunk",
                        "created": int(time.time()), "model": body.get("model", "loopback")}
                deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
                deltas += [{"content": word} for word in re.findall(r"\s*\S+\s*", message.get("content") or "")]
                deltas += [{"tool_calls": [{"index": i, **call}]} for i, call in enumerate(message.get("tool_calls") or [])]
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("connection", "close")
                self.end_headers()
                chunks = [{**head, "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas]
                chunks.append({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}], "usage": usage})
                for chunk in chunks:
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="loopback-openai", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LoopbackOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
