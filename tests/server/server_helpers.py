"""Helpers of the server tests: one client per API dialect, SSE reading, waiting without timing asserts."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from httpx_sse import ServerSentEvent, aconnect_sse

from polpo_server.dialects import DIALECTS
from polpo_server.routes import ROUTES, Route

WAIT = 30.0  # seconds: a hang is a failure, never a timing assertion


@dataclass
class Api:
    """One dialect of the API over an httpx client: knows its prefixes and unwraps the envelope."""

    client: httpx.AsyncClient
    dialect: str
    project_id: str = "root_dir"
    hits: set[tuple[str, str]] = field(default_factory=set)

    @property
    def envelope(self) -> bool:
        return self.dialect == "project"

    @property
    def root(self) -> str:
        return "api/v1/" if self.envelope else "v1/"

    @property
    def prefix(self) -> str:
        return f"api/v1/projects/{self.project_id}/" if self.envelope else "v1/"

    def url(self, path: str, *, server: bool = False) -> str:
        return (self.root if server else self.prefix) + path

    async def request(self, method: str, path: str, *, server: bool = False, **kw: Any) -> httpx.Response:
        return await self.client.request(method, self.url(path, server=server), **kw)

    def data(self, response: httpx.Response, status: int = 200) -> Any:
        assert response.status_code == status, (response.status_code, response.text)
        body = response.json()
        if self.envelope:
            assert body["ok"] is True, body
            return body["data"]
        return body

    def error(self, response: httpx.Response, status: int) -> dict[str, Any]:
        assert response.status_code == status, (response.status_code, response.text)
        body = response.json()
        if self.envelope:
            assert body["ok"] is False
            assert body["code"].isupper()
        else:
            assert "ok" not in body
            assert body["code"].islower()
        assert body["error"]
        return body

    async def call(self, method: str, path: str, status: int = 200, *, server: bool = False, **kw: Any) -> Any:
        return self.data(await self.request(method, path, server=server, **kw), status)

    async def get(self, path: str, **kw: Any) -> Any:
        return await self.call("GET", path, **kw)

    def sse_data(self, sse: ServerSentEvent) -> tuple[str, Any]:
        """(event name, payload) in either dialect's SSE convention."""
        import json

        if self.envelope:
            assert sse.event == "message", sse.event  # unnamed: EventSource.onmessage gets it
            body = json.loads(sse.data)
            return body["event"], body["data"]
        return sse.event, json.loads(sse.data)

    async def stream(self, method: str, path: str, *, until: Callable[[str, Any], bool] | None = None,
                     limit: int = 10_000, **kw: Any) -> list[tuple[str, Any, str]]:
        """Read an SSE response to its end (or until `until(name, data)`): [(name, data, id)]."""
        out: list[tuple[str, Any, str]] = []
        async with asyncio.timeout(WAIT), aconnect_sse(self.client, method, self.url(path), **kw) as source:
            assert source.response.status_code == 200, await source.response.aread()
            assert source.response.headers["content-type"].startswith("text/event-stream")
            async for sse in source.aiter_sse():
                name, data = self.sse_data(sse)
                out.append((name, data, sse.id))
                if (until and until(name, data)) or len(out) >= limit:
                    break
        return out


def record_hits(api: Api) -> None:
    """Remember which routes of the table `api`'s requests matched (for the coverage assertion)."""
    compiled = [(route, re.compile("^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(api_path(api, route))) + "$"))
                for route in ROUTES]

    base = api.client.base_url.raw_path.decode().split("?")[0]

    async def hook(request: httpx.Request) -> None:
        path = request.url.raw_path.decode().split("?")[0]
        if not path.startswith(base):
            return
        path = path[len(base):]
        for route, regex in compiled:
            if route.method == request.method and regex.match(path):
                api.hits.add((route.method, api_path(api, route)))
                return

    api.client.event_hooks["request"].append(hook)


def api_path(api: Api, route: Route) -> str:
    dialect = next(d for d in DIALECTS if d.name == api.dialect)
    return dialect.mount(route.scope, route.path)


#: Routes whose own test file calls each of them (the tour leaves them out): chat -> test_server_chat.py,
#: keys -> test_server_keys.py.
COVERED_ELSEWHERE = frozenset({"chat", "keys"})


def mounted(dialect_name: str) -> set[tuple[str, str]]:
    """(method, path) of every route of a dialect the tour must call."""
    dialect = next(d for d in DIALECTS if d.name == dialect_name)
    return {(r.method, dialect.mount(r.scope, r.path)) for r in ROUTES if not COVERED_ELSEWHERE & set(r.tags)}


async def until(check: Callable[[], Awaitable[Any]], timeout: float = WAIT) -> Any:
    """Poll `check()` until it returns something truthy."""
    async with asyncio.timeout(timeout):
        while True:
            value = await check()
            if value:
                return value
            await asyncio.sleep(0.02)


# -- `polpo serve` as a subprocess -------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_serve(root: Path, *, port: int, key: str, log: Path, cli: bool = True, prelude: str = "",
                **options: Any) -> subprocess.Popen:
    """`polpo serve --port P --api-key K --project ROOT` (the installed console script), once healthy.
    `cli=False` runs `polpo_server.serve.serve(...)` itself, with `options` as its keyword arguments,
    after the Python code `prelude`: the same server, for tests of the server rather than of the
    command line."""
    if cli:
        polpo = shutil.which("polpo", path=str(Path(sys.executable).parent))
        command = [polpo] if polpo else [sys.executable, "-m", "polpo_nb.cli"]
        command += ["serve", "--port", str(port), "--api-key", key, "--project", str(root)]
    else:
        kwargs = {"port": port, "api_key": key, "project": str(root), **options}
        command = [sys.executable, "-c", f"{prelude}\nfrom polpo_server.serve import serve; serve(**{kwargs!r})"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
    with log.open("a") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root.parent)
    url = f"http://127.0.0.1:{port}/api/v1/health"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"polpo serve did not start:\n{log.read_text()}")
        time.sleep(0.1)


def stop_serve(proc: subprocess.Popen, timeout: float = 20) -> int | None:
    """SIGTERM, then the exit code (SIGKILL, and None, if it does not stop in time)."""
    if proc.poll() is not None:
        return proc.returncode
    proc.terminate()
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None
