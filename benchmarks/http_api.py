#!/usr/bin/env python
"""HTTP: `GET tasks` against plain Jupyter `GET /api/status` on one server, SSE fan-out, cold and warm
lists by size, and a mixed load of creates and lists.

    .venv/bin/python benchmarks/http_api.py [--tasks 1000] [--clients 32] [--requests 4000] [--rounds 2]
                                        [--subscribers 200] [--events 2000] [--rate 200] [--json]
                                        [--parts latency,sse,lists,mixed] [--list-sizes 1000,5000,10000]
                                        [--samples 30] [--mixed-seconds 10]

One real `jupyter server` subprocess (polpo_server enabled, token auth) serves a fresh project with
`--tasks` tasks. This process is the client, on raw asyncio sockets (HTTP/1.1 keep-alive, one
connection per client) rather than httpx, so that the client's own cost stays small next to the
server's on a 2-core machine; both endpoints go through the same client code, same connections.

1. **Latency and throughput**: `--clients` concurrent clients, each sending requests back to back,
   `--requests` requests per measurement. Rounds alternate Jupyter's `GET /api/status` (a tiny JSON
   answer) and polpo's `GET polpo/v1/tasks` (every task, ~360 B each), after a warm-up of both. Also
   `GET tasks` with a cache-busting query argument (every request misses the whole-answer cache and
   puts the list together again from the store's rows and the kept per-task renderings) and with
   `If-None-Match` (a poller that already has the current list: 304).
   Latency is from writing the request to having read the whole body.
2. **SSE fan-out**: `--subscribers` clients on `GET polpo/v1/events?filter=agent:added`; then
   `--events` events are produced in the server (`POST v1/agents`, one event each) at `--rate`
   events per second (0: back to back). Every subscriber must get every event id, in order; delivery
   lag = arrival at the subscriber - the event's own `timestamp` (set by the engine at commit, in
   ms). Lags of all deliveries (subscribers x events) give the percentiles.
3. **Cold and warm lists by size**: a fresh project and server per size of `--list-sizes`; one client.
   Warm: `GET tasks` again with nothing changed. Cold: one task's description changed (PATCH, not
   timed) before each `GET tasks`, as while a mission runs. Also one page (`limit=100`) cold. The
   median of `--samples` each.
4. **Mixed load**: `--clients` connections for `--mixed-seconds`, half creating tasks (`POST tasks`)
   back to back, half listing them (`GET tasks`, the full list) back to back, on a project of
   `--tasks` tasks; requests/s, latencies, and the tasks counted at the end against the 201s (no
   write lost).

Progress goes to stderr; `--json` prints the results as JSON on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import polpo_nb as polpo

HOST = "127.0.0.1"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- a minimal HTTP/1.1 client -----------------------------------------------------------------------------

class Connection:
    """One keep-alive connection: requests in sequence, bodies by Content-Length or chunked."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.port = port
        self.headers = "".join(f"{k}: {v}\r\n" for k, v in {"Host": f"{HOST}:{port}", **headers}.items())
        self.reader: asyncio.StreamReader
        self.writer: asyncio.StreamWriter

    async def open(self) -> Connection:
        self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        return self

    def close(self) -> None:
        self.writer.close()

    def send(self, method: str, path: str, body: bytes = b"", extra: str = "") -> None:
        head = f"{method} {path} HTTP/1.1\r\n{self.headers}{extra}"
        if body:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)

    async def head(self) -> tuple[int, dict[str, str]]:
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        return status, headers

    async def chunk(self) -> bytes:
        """The next chunk of a chunked body (b"" at the end)."""
        size = int((await self.reader.readline()).split(b";")[0], 16)
        data = await self.reader.readexactly(size) if size else b""
        await self.reader.readline()
        return data

    async def body(self, status: int, headers: dict[str, str]) -> bytes:
        if status in (204, 304):
            return b""
        if "content-length" in headers:
            return await self.reader.readexactly(int(headers["content-length"]))
        if headers.get("transfer-encoding") == "chunked":
            parts = []
            while part := await self.chunk():
                parts.append(part)
            return b"".join(parts)
        raise AssertionError(f"a response without length: {headers}")

    async def request(self, method: str, path: str, body: bytes = b"", extra: str = "") -> tuple[int, dict[str, str], bytes]:
        self.send(method, path, body, extra)
        status, headers = await self.head()
        return status, headers, await self.body(status, headers)


# -- the server ----------------------------------------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (Linux /proc; 0.0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def make_project(root: Path, tasks: int) -> None:
    """`tasks` draft tasks of one mission (~360 B each on the wire). The mission is validated at once:
    the builder re-checks the graph per added task, which is quadratic and not what we measure."""
    with polpo.Project(root) as project:
        project.add_agent({"name": "w", "model": "test"})
        mission = polpo.Mission.model_validate({"name": "bench", "tasks": [
            {"title": f"task {i}", "description": f"Task number {i} of the benchmark: do the thing well.",
             "assignTo": "w", "expectations": [{"criterion": "done well"}]} for i in range(tasks)]})
        project.save_mission(mission)


def start_server(root: Path, port: int, token: str, workdir: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
    env["JUPYTER_CONFIG_DIR"] = str(workdir / "config")  # no user config
    env["JUPYTER_RUNTIME_DIR"] = str(workdir / "runtime")
    out = (workdir / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", f"--port={port}", f"--ServerApp.ip={HOST}", "--no-browser",
         f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={token}", "--ServerApp.port_retries=0", "--allow-root",
         "--ServerApp.jpserver_extensions={'polpo_server': True}", "--ServerApp.log_level=WARN"],
        stdout=out, stderr=subprocess.STDOUT, env=env, cwd=workdir)
    return proc


async def wait_up(port: int, token: str, proc: subprocess.Popen, server_log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"jupyter server exited:\n{server_log.read_text()[-3000:]}")
        try:
            conn = await Connection(port, {"Authorization": f"token {token}"}).open()
            status, _, _ = await conn.request("GET", "/polpo/v1/health")
            conn.close()
            if status == 200:
                return
        except OSError:
            pass
        await asyncio.sleep(0.2)
    raise SystemExit("jupyter server did not start")


# -- 1. latency and throughput ------------------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def load(conns: list[Connection], path: str | None, requests: int, expect: int = 200,
               extra: str = "", paths: Any = None) -> dict[str, Any]:
    """`requests` GETs spread over the connections, each connection back to back."""
    latencies: list[float] = []
    sizes: set[int] = set()
    per_conn = requests // len(conns)
    counter = iter(range(10**9))

    async def client(conn: Connection) -> None:
        for _ in range(per_conn):
            target = path if paths is None else paths(next(counter))
            started = time.perf_counter()
            status, _, body = await conn.request("GET", target, extra=extra)
            latencies.append(time.perf_counter() - started)
            if status != expect:
                raise AssertionError(f"GET {target}: {status} {body[:200]!r}")
            sizes.add(len(body))

    started = time.perf_counter()
    await asyncio.gather(*(client(c) for c in conns))
    wall = time.perf_counter() - started
    return {"latencies": latencies, "wall": wall, "bytes": max(sizes)}


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    latencies = [x for r in runs for x in r["latencies"]]
    return {"requests": len(latencies), "p50_ms": percentile(latencies, 50) * 1e3,
            "p99_ms": percentile(latencies, 99) * 1e3, "max_ms": max(latencies) * 1e3,
            "rps": len(latencies) / sum(r["wall"] for r in runs), "body_bytes": runs[0]["bytes"]}


async def latency_rounds(port: int, token: str, args: argparse.Namespace) -> dict[str, Any]:
    auth = {"Authorization": f"token {token}"}
    conns = [await Connection(port, auth).open() for _ in range(args.clients)]
    status_path, tasks_path = "/api/status", "/polpo/v1/tasks"
    _, headers, body = await conns[0].request("GET", tasks_path)
    count = len(json.loads(body))
    assert count == args.tasks, f"GET tasks returned {count} tasks"
    etag = headers["etag"]
    log(f"  warm-up ({count} tasks, {len(body) / 1024:.0f} KiB per answer)")
    await load(conns, status_path, args.clients * 20)
    await load(conns, tasks_path, args.clients * 20)
    results: dict[str, list[dict[str, Any]]] = {"jupyter": [], "tasks": [], "tasks_uncached": [], "tasks_304": []}
    for i in range(args.rounds):
        log(f"  round {i + 1}/{args.rounds}")
        results["jupyter"].append(await load(conns, status_path, args.requests))
        results["tasks"].append(await load(conns, tasks_path, args.requests))
    results["tasks_uncached"].append(await load(conns, None, max(args.clients * 4, args.requests // 8),
                                                paths=lambda n: f"{tasks_path}?nocache={n}"))
    results["tasks_304"].append(await load(conns, tasks_path, args.requests, expect=304,
                                           extra=f"If-None-Match: {etag}\r\n"))
    for conn in conns:
        conn.close()
    return {name: summary(runs) for name, runs in results.items()}


# -- 2. SSE fan-out ----------------------------------------------------------------------------------------

_EPOCH: dict[str, float] = {}


def epoch(stamp: str) -> float:
    value = _EPOCH.get(stamp)
    if value is None:
        value = _EPOCH[stamp] = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    return value


class Subscriber:
    def __init__(self, port: int, token: str) -> None:
        self.conn = Connection(port, {"Authorization": f"token {token}", "Accept": "text/event-stream"})
        self.ids: list[int] = []
        self.lags: list[float] = []
        self.ready = asyncio.Event()

    async def run(self, want: int) -> None:
        await self.conn.open()
        self.conn.send("GET", "/polpo/v1/events?filter=agent:added")
        status, headers = await self.conn.head()
        assert status == 200 and headers.get("transfer-encoding") == "chunked", (status, headers)
        first = (await self.conn.chunk()).decode()
        assert first.startswith(": connected"), first
        self.ready.set()
        buffer = first.partition("\n")[2]
        while len(self.ids) < want:
            chunk = (await self.conn.chunk()).decode()
            arrived = time.time()
            if not chunk:
                break
            buffer += chunk
            *events, buffer = buffer.split("\n\n")
            for event in events:
                at = event.find("\nid: evt_")
                if at < 0:  # comments only (keep-alive)
                    continue
                end = event.find("\n", at + 9)
                self.ids.append(int(event[at + 9:end if end >= 0 else None]))
                ts = event.index('"timestamp":"') + 13
                self.lags.append(arrived - epoch(event[ts:event.index('"', ts)]))
        self.conn.close()


async def fan_out(port: int, token: str, args: argparse.Namespace, rate: float) -> dict[str, Any]:
    subscribers = [Subscriber(port, token) for _ in range(args.subscribers)]
    readers = [asyncio.ensure_future(s.run(args.events)) for s in subscribers]
    async with asyncio.timeout(60):
        await asyncio.gather(*(s.ready.wait() for s in subscribers))
    log(f"  {len(subscribers)} subscribers connected; producing {args.events} events "
        f"{f'at {rate:g}/s' if rate else 'back to back'}")
    producer = await Connection(port, {"Authorization": f"token {token}"}).open()
    tag = secrets.token_hex(3)
    started = time.perf_counter()
    for i in range(args.events):
        if rate:
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        status, _, body = await producer.request("POST", "/polpo/v1/agents",
                                                 json.dumps({"name": f"fan-{tag}-{i}"}).encode())
        assert status == 201, (status, body[:200])
    produced = time.perf_counter() - started
    producer.close()
    done, pending = await asyncio.wait(readers, timeout=120)
    for task in pending:
        task.cancel()
    for task in done:
        if task.exception():
            raise task.exception()  # type: ignore[misc]
    drained = time.perf_counter() - started
    reference = subscribers[0].ids
    complete = sum(1 for s in subscribers if len(s.ids) == args.events and s.ids == reference)
    ordered = len(reference) == args.events and reference == sorted(set(reference))
    lags = [x for s in subscribers for x in s.lags]
    return {"subscribers": args.subscribers, "events": args.events, "rate": rate or None,
            "deliveries": len(lags), "expected_deliveries": args.subscribers * args.events,
            "complete_subscribers": complete, "ids_in_order": ordered,
            "p50_lag_ms": percentile(lags, 50) * 1e3, "p99_lag_ms": percentile(lags, 99) * 1e3,
            "max_lag_ms": max(lags) * 1e3, "produce_s": produced, "drain_s": drained}


# -- 3. cold and warm lists by size ---------------------------------------------------------------------------

async def list_sizes(port: int, token: str, tasks: int, samples: int) -> dict[str, Any]:
    """One client, requests in sequence. Warm: `GET tasks` again with nothing changed (the rendered
    answer is reused). Cold: one task's description is changed (PATCH, not timed) before each `GET
    tasks`, as while a mission runs, so every timed list follows a commit. Also one page
    (`limit=100`) cold, for a client that pages."""
    conn = await Connection(port, {"Authorization": f"token {token}"}).open()
    path = "/polpo/v1/tasks"
    _, _, body = await conn.request("GET", path)
    ids = [t["id"] for t in json.loads(body)]
    assert len(ids) == tasks, f"GET tasks returned {len(ids)} tasks"

    async def timed_get(target: str) -> float:
        started = time.perf_counter()
        status, _, answer = await conn.request("GET", target)
        elapsed = time.perf_counter() - started
        assert status == 200, (status, answer[:200])
        return elapsed

    async def touch(n: int) -> None:
        status, _, answer = await conn.request("PATCH", f"{path}/{ids[n * 7919 % len(ids)]}",
                                               json.dumps({"description": f"changed {n}"}).encode())
        assert status == 200, (status, answer[:200])

    warm, cold, page = [], [], []
    for _ in range(3):
        await timed_get(path)
    for _ in range(samples):
        warm.append(await timed_get(path))
    for n in range(samples):
        await touch(n)
        cold.append(await timed_get(path))
    for n in range(samples):
        await touch(samples + n)
        page.append(await timed_get(path + "?limit=100"))
    conn.close()
    w, c, p = (statistics.median(x) * 1e3 for x in (warm, cold, page))
    return {"tasks": tasks, "body_bytes": len(body), "warm_ms": w, "cold_ms": c, "cold_over_warm": c / w,
            "page100_cold_ms": p}


# -- 4. mixed load ---------------------------------------------------------------------------------------------

async def mixed_load(port: int, token: str, clients: int, seconds: float, initial: int, server_pid: int) -> dict[str, Any]:
    """`clients` connections for `seconds`: half create tasks (`POST tasks`) back to back, half list
    them (`GET tasks`, the full list) back to back, so every create makes the next list cold. At the
    end the tasks are counted: every 201 must be a row (no write lost). Also the server process's CPU
    time per request, which a busy machine moves less than requests/s."""
    auth = {"Authorization": f"token {token}"}
    conns = [await Connection(port, auth).open() for _ in range(clients)]
    posts: list[float] = []
    gets: list[float] = []
    created: list[str] = []
    stop = time.perf_counter() + seconds
    tag = secrets.token_hex(3)

    async def creator(conn: Connection, me: int) -> None:
        n = 0
        while time.perf_counter() < stop:
            body = json.dumps({"title": f"mixed {tag} {me}.{n}", "assignTo": "w"}).encode()
            started = time.perf_counter()
            status, _, answer = await conn.request("POST", "/polpo/v1/tasks", body)
            posts.append(time.perf_counter() - started)
            assert status == 201, (status, answer[:200])
            created.append(json.loads(answer)["id"])
            n += 1

    async def lister(conn: Connection) -> None:
        while time.perf_counter() < stop:
            started = time.perf_counter()
            status, _, answer = await conn.request("GET", "/polpo/v1/tasks")
            gets.append(time.perf_counter() - started)
            assert status == 200, (status, answer[:200])

    started, cpu = time.perf_counter(), cpu_seconds(server_pid)
    half = clients // 2
    await asyncio.gather(*(creator(c, i) for i, c in enumerate(conns[:half])), *(lister(c) for c in conns[half:]))
    wall, cpu = time.perf_counter() - started, cpu_seconds(server_pid) - cpu
    _, _, body = await conns[0].request("GET", "/polpo/v1/tasks")
    stored = {t["id"] for t in json.loads(body)}
    for conn in conns:
        conn.close()
    lost = len(set(created) - stored)
    return {"clients": clients, "seconds": wall, "requests": len(posts) + len(gets), "rps": (len(posts) + len(gets)) / wall,
            "posts": len(posts), "gets": len(gets), "post_p50_ms": percentile(posts, 50) * 1e3,
            "post_p99_ms": percentile(posts, 99) * 1e3, "get_p50_ms": percentile(gets, 50) * 1e3,
            "get_p99_ms": percentile(gets, 99) * 1e3, "tasks_at_end": len(stored),
            "expected_at_end": initial + len(set(created)), "lost_writes": lost,
            "server_cpu_ms_per_request": cpu * 1e3 / (len(posts) + len(gets))}


# -- main ----------------------------------------------------------------------------------------------

@contextlib.asynccontextmanager
async def served(tasks: int) -> AsyncIterator[tuple[int, str, int]]:
    """A fresh project of `tasks` tasks behind a fresh `jupyter server`: (port, token, its pid)."""
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        root = workdir / "project"
        root.mkdir()
        log(f"creating a project with {tasks} tasks")
        make_project(root, tasks)
        port, token = free_port(), secrets.token_hex(16)
        proc = start_server(root, port, token, workdir)
        try:
            await wait_up(port, token, proc, workdir / "server.log")
            yield port, token, proc.pid
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    parts = set(args.parts.split(","))
    result: dict[str, Any] = {"config": {k: v for k, v in vars(args).items() if k != "json"}, "cpus": os.cpu_count()}
    if parts & {"latency", "sse"}:
        async with served(args.tasks) as (port, token, _):
            if "latency" in parts:
                log(f"GET tasks vs GET /api/status: {args.clients} clients, {args.requests} requests x {args.rounds} rounds")
                result["http"] = await latency_rounds(port, token, args)
            if "sse" in parts:
                log("SSE fan-out")
                result["sse"] = [await fan_out(port, token, args, args.rate)]
                if args.burst:
                    result["sse"].append(await fan_out(port, token, args, 0))
    if "lists" in parts:
        result["lists"] = []
        for size in (int(x) for x in args.list_sizes.split(",")):
            async with served(size) as (port, token, _):
                log(f"cold and warm GET tasks at {size} tasks")
                result["lists"].append(await list_sizes(port, token, size, args.samples))
    if "mixed" in parts:
        async with served(args.tasks) as (port, token, pid):
            log(f"mixed load: {args.clients} clients for {args.mixed_seconds:g} s")
            result["mixed"] = await mixed_load(port, token, args.clients, args.mixed_seconds, args.tasks, pid)
    return result


def report(result: dict[str, Any]) -> str:
    lines: list[str] = []
    if "http" in result:
        lines += latency_report(result["http"])
    for fan in result.get("sse", []):
        lines += sse_report(fan)
    if "lists" in result:
        lines += ["", "GET tasks, one client: warm (nothing changed) vs cold (one task changed before each list)",
                  f"{'tasks':>7} {'body':>10} {'warm ms':>8} {'cold ms':>8} {'cold/warm':>10} {'limit=100 cold ms':>18}"]
        for r in result["lists"]:
            lines.append(f"{r['tasks']:>7} {r['body_bytes']:>9}B {r['warm_ms']:>8.2f} {r['cold_ms']:>8.2f} "
                         f"{r['cold_over_warm']:>9.1f}x {r['page100_cold_ms']:>18.2f}")
    if "mixed" in result:
        m = result["mixed"]
        lines += ["", f"mixed load: {m['clients']} clients for {m['seconds']:.1f} s, half POST tasks, half GET tasks "
                      f"(the full list)",
                  f"  {m['rps']:.0f} requests/s ({m['posts']} POST, {m['gets']} GET); POST p50 {m['post_p50_ms']:.1f} ms "
                  f"p99 {m['post_p99_ms']:.1f} ms; GET p50 {m['get_p50_ms']:.1f} ms p99 {m['get_p99_ms']:.1f} ms; "
                  f"server CPU {m['server_cpu_ms_per_request']:.2f} ms per request",
                  f"  tasks at the end {m['tasks_at_end']} (expected {m['expected_at_end']}): "
                  f"{'no write lost' if m['lost_writes'] == 0 and m['tasks_at_end'] == m['expected_at_end'] else 'WRITES LOST'}"]
    return "\n".join(lines).lstrip("\n")


def latency_report(http: dict[str, Any]) -> list[str]:
    rows = [("Jupyter GET /api/status", http["jupyter"]), ("polpo GET v1/tasks", http["tasks"]),
            ("polpo GET v1/tasks, cache-busting query", http["tasks_uncached"]),
            ("polpo GET v1/tasks, If-None-Match (304)", http["tasks_304"])]
    lines = [f"{'':42} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} {'body':>9}"]
    for label, r in rows:
        lines.append(f"{label:42} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} {r['rps']:8.0f} {r['body_bytes']:>8}B")
    ratio = http["tasks"]["p99_ms"] / http["jupyter"]["p99_ms"]
    lines.append(f"p99 of GET tasks / p99 of /api/status: {ratio:.2f}x (target: <= 2x) "
                 f"-> {'met' if ratio <= 2 else 'NOT met'}")
    return lines


def sse_report(fan: dict[str, Any]) -> list[str]:
    lines = [""]
    rate = f"{fan['rate']:g} events/s" if fan["rate"] else "back to back"
    lines.append(f"SSE fan-out: {fan['events']} events ({rate}) to {fan['subscribers']} subscribers")
    lines.append(f"  delivered {fan['deliveries']}/{fan['expected_deliveries']}; subscribers with every id in "
                 f"order: {fan['complete_subscribers']}/{fan['subscribers']}")
    lines.append(f"  lag p50 {fan['p50_lag_ms']:.1f} ms, p99 {fan['p99_lag_ms']:.1f} ms, max {fan['max_lag_ms']:.1f} ms "
                 f"(produced in {fan['produce_s']:.1f} s, all delivered after {fan['drain_s']:.1f} s)")
    met = fan["complete_subscribers"] == fan["subscribers"] and fan["p99_lag_ms"] < 100
    lines.append(f"  target (every event to every subscriber, p99 < 100 ms) -> {'met' if met else 'NOT met'}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=4000, help="requests per measurement")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--subscribers", type=int, default=200)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=200, help="events per second (0: back to back)")
    parser.add_argument("--burst", action="store_true", help="also run the fan-out with events back to back")
    parser.add_argument("--parts", default="latency,sse,lists,mixed",
                        help="which measurements, comma-separated: latency, sse, lists, mixed")
    parser.add_argument("--list-sizes", default="1000,5000,10000", help="project sizes of the cold/warm list table")
    parser.add_argument("--samples", type=int, default=30, help="timed lists per size and kind (the median is shown)")
    parser.add_argument("--mixed-seconds", type=float, default=10.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args))
    print(json.dumps(result, indent=2) if args.json else report(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
