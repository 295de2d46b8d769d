"""The LLM attempt the exact-resume tests crash at each of its points (tests/test_exact_resume*.py).

One task for one LLM agent on a scripted OpenAI-compatible model (`polpo_nb.testing.LoopbackOpenAI`):

    request 1 (the prompt)              -> http_fetch GET of the counting page  (idempotent tool)
    request 2 (with the page)           -> run_shell appending to tally.txt     (not idempotent)
    request 3 (with the shell's answer) -> "all done"

Every kill point is a condition, never a delay: the model blocks on a chosen request until released
(`Scripted.block_at`), the page blocks its GET until released (`Page.block`), and the shell command
waits for the file `release` in the project. `tally.txt` and `Page.hits` count what really ran.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import polpo_nb as polpo
from polpo_nb.spec import MissionStatus
from polpo_nb.testing import LoopbackOpenAI, text

MODEL = "local:scripted"
SHELL = "echo ran >> tally.txt; while [ ! -e release ]; do sleep 0.02; done; echo finished"


def _call(call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """A tool call with a fixed id: the same script gives byte-identical conversations in every run."""
    return {"role": "assistant", "content": None, "tool_calls": [
        {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}]}


@dataclass
class Page:
    """A loopback page for http_fetch: counts its GETs; `block` holds them until `release` is set."""

    hits: int = 0
    block: bool = False
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/data"


@contextmanager
def serve_page(page: Page) -> Iterator[Page]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:  # noqa: N802
            page.hits += 1
            if page.block:
                page.arrived.set()
                page.release.wait()
            body = b"the counting page"
            self.send_response(200)
            self.send_header("content-type", "text/plain")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    page.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    page.server.daemon_threads = True
    threading.Thread(target=page.server.serve_forever, daemon=True).start()
    try:
        yield page
    finally:
        page.release.set()
        page.server.shutdown()
        page.server.server_close()


class Scripted:
    """The agent's model: answers by the number of tool results in the conversation; `block_at` (1-based)
    holds that request (counted over the model's whole life, restarts included) until `release`."""

    def __init__(self, page: Page, *, block_at: int | None = None) -> None:
        self.page = page
        self.block_at = block_at
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.server = LoopbackOpenAI(self.reply)

    def reply(self, body: dict[str, Any]) -> dict[str, Any]:
        if len(self.server.requests) == self.block_at:
            self.arrived.set()
            self.release.wait()
        done = sum(1 for m in body["messages"] if m["role"] == "tool")
        if done == 0:
            return _call("call_page", "http_fetch", {"url": self.page.url})
        if done == 1:
            return _call("call_shell", "run_shell", {"command": SHELL})
        return text("all done")

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self.server.requests

    def __enter__(self) -> Scripted:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.stop()


def config(model_url: str) -> dict[str, Any]:
    return {"providers": {"local": {"baseUrl": model_url}}, "httpFetchAllowHosts": ["127.0.0.1"]}


MISSION: dict[str, Any] = {
    "name": "exact",
    "tasks": [{"title": "work", "description": "Fetch the page, then run the tally command.", "assignTo": "worker"}],
    "team": {"agents": [{"name": "worker", "model": MODEL, "allowedTools": ["http_fetch", "run_shell"]}]},
}


def normalized(requests: list[dict[str, Any]], root: Path) -> list[str]:
    """Requests as comparable text: the project's path and loopback ports are the only differences
    between two projects running the same script."""
    out = []
    for body in requests:
        shown = json.dumps(body, sort_keys=True).replace(str(root), "<root>")
        out.append(re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:<port>", shown))
    return out


def tool_messages(body: dict[str, Any]) -> list[str]:
    return [m["content"] for m in body["messages"] if m["role"] == "tool"]


def make_project(root: Path, model_url: str, *, shell_blocks: bool) -> Path:
    """A project on the scripted model; the shell command finishes at once unless `shell_blocks`."""
    root.mkdir(parents=True)
    (root / "polpo.json").write_text(json.dumps(config(model_url)))
    if not shell_blocks:
        (root / "release").write_text("")
    return root


def reference(tmp_path: Path, page: Page, wait: float) -> tuple[list[str], dict[str, Any]]:
    """The requests and the result of the attempt run without a crash, in a twin project whose path has
    the same length as `tmp_path / "run" / "proj"` (the prompt's token counts depend on it)."""
    with Scripted(page) as model:
        root = make_project(tmp_path / "ref" / "proj", model.server.base_url, shell_blocks=False)
        with polpo.Project(root) as project:
            record = project.execute(polpo.Mission.model_validate(MISSION)).wait(wait)
        assert record.status == MissionStatus.COMPLETED
        page.hits = 0
        return normalized(model.requests, root), record.tasks[0].result.model_dump(by_alias=True, exclude_none=True)


#: kill point -> (what blocks at it, the 1-based model request in flight at the kill, or None)
POINTS = {
    "during the first model call": ("model", 1),
    "after a model response, its idempotent tool in flight": ("page", None),
    "after a tool result, the next model call in flight": ("model", 2),
    "during a non-idempotent tool call": ("shell", None),
    "after the non-idempotent tool's result": ("model", 3),
}


def check_requests(received: list[str], expected: list[str], sent: list[dict[str, Any]], point: str) -> None:
    """The model got exactly the uninterrupted run's requests, plus the one in flight at the kill; with
    the shell in flight, the model is told it was interrupted, the rest of the conversation unchanged."""
    blocker, in_flight = POINTS.get(point, ("answer", None))
    if in_flight is not None:
        assert received == expected[:in_flight] + expected[in_flight - 1:]
    elif blocker != "shell":
        assert received == expected
    else:
        assert received[:2] == expected[:2] and len(received) == 3
        answers = tool_messages(sent[2])
        assert answers[0] == tool_messages(json.loads(expected[2]))[0]
        assert answers[1].startswith("interrupted by a crash")


def check_one_attempt(point: str, statuses: list[str], transcript: list[str]) -> None:
    """One attempt across the crash (one row, one transcript); an attempt that stored nothing (killed in
    its first model call) starts over as a new one."""
    if POINTS.get(point, ("", None))[1] == 1:
        assert statuses == ["crashed", "completed"]
        assert not any("resumed after a crash" in line for line in transcript)
    else:
        assert statuses == ["completed"]
        assert sum("resumed after a crash" in line for line in transcript) == 1
        assert sum(line.startswith("[user]") for line in transcript) == 1
