"""What an open, idle project costs, and how fast it still hears another process.

    .venv/bin/python benchmarks/idle.py               # 20 s samples, 1 and 10 projects (about 3 minutes)
    .venv/bin/python benchmarks/idle.py --seconds 5   # quicker, noisier

For 1 and 10 open projects, in a kernel-like process (`polpo.Project`, the engine on its own thread) and
in `polpo serve` (the same engine on the server's loop), it samples the process's CPU time over an idle
window and prints CPU-seconds per 20 s. The peer, measured in the same run, is the same process with
`changeDetection: "poll"` every 50 ms, which is what every open project did before change
notifications. Then it measures how long an event committed by another process takes to reach a
subscriber of an idle project (p50/p99 over `--events` events, each written to a watcher gone back to
sleep). Goal: <= 0.02 CPU-s per 20 s idle, p99 <= 100 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx

import polpo_nb as polpo

TICKS = os.sysconf("SC_CLK_TCK")
PEER = {"changeDetection": "poll", "pollInterval": 0.05}  # the old tail: PRAGMA data_version every 50 ms

KERNEL = textwrap.dedent("""
    import json, sys, time, polpo_nb as polpo
    config = json.loads(sys.argv[1])
    projects = [polpo.Project(path, config=config or None) for path in sys.argv[2:]]
    print("ready", flush=True)
    time.sleep(3600)
""")

WRITER = textwrap.dedent("""
    import sys, time, polpo_nb as polpo
    with polpo.Project(sys.argv[1]) as project:
        project.agent("w")(lambda task, ctx: "")
        for i in range(int(sys.argv[2])):
            time.sleep(float(sys.argv[3]))
            project.create_task({"title": f"t{i}", "assignTo": "w"})
""")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def sample(pid: int, seconds: float) -> float:
    """CPU-seconds per 20 s of `pid` over an idle window of `seconds`."""
    time.sleep(1.0)  # past the settling after start-up writes
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) * 20.0 / seconds


def make_projects(root: Path, n: int, config: dict) -> list[Path]:
    paths = []
    for i in range(n):
        path = root / f"p{i}"
        (path / ".polpo").mkdir(parents=True)
        if config:
            (path / ".polpo" / "config.json").write_text(json.dumps(config))
        paths.append(path)
    return paths


@contextlib.contextmanager
def kernel(paths: list[Path], config: dict) -> Iterator[int]:
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as script:
        script.write(KERNEL)
    child = subprocess.Popen([sys.executable, script.name, json.dumps(config), *map(str, paths)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout and child.stdout.readline().strip() == "ready"
        yield child.pid
    finally:
        child.kill()
        child.wait()
        os.unlink(script.name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server(root: Path, paths: list[Path]) -> Iterator[int]:
    port = free_port()
    child = subprocess.Popen([sys.executable, "-m", "polpo_nb.cli", "serve", "--port", str(port), "--project", str(root)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or child.poll() is not None:
                raise SystemExit("polpo serve did not start")
            time.sleep(0.1)
        for path in paths:  # open every project, as a client using each would
            httpx.get(f"{base}/api/v1/projects/{path.name}/state", timeout=30).raise_for_status()
        yield child.pid
    finally:
        child.kill()
        child.wait()


def idle_table(seconds: float) -> list[tuple[str, int, float, float]]:
    rows = []
    for face in ("kernel", "server"):
        for n in (1, 10):
            figures = []
            for config in ({}, PEER):
                with tempfile.TemporaryDirectory() as tmp:
                    root = Path(tmp)
                    paths = make_projects(root, n, config)
                    if face == "kernel":
                        with kernel(paths, config) as pid:
                            figures.append(sample(pid, seconds))
                    else:
                        with server(root, paths) as pid:
                            figures.append(sample(pid, seconds))
            rows.append((face, n, figures[0], figures[1]))
            print(f"{face:6}  {n:2} project(s)  {figures[0]:.4f} CPU-s/20 s   peer (50 ms poll) {figures[1]:.4f}"
                  f"   ratio {figures[0] / figures[1] if figures[1] else float('nan'):.3f}", flush=True)
    return rows


def latency(events: int, gap: float) -> list[float]:
    """Milliseconds from another process's commit to this process's subscriber, at an idle watcher."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp)
        arrivals: list[float] = []
        with polpo.Project(path) as project:
            def on_event(event: polpo.Event) -> None:
                sent = datetime.strptime(event.timestamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()
                arrivals.append((time.time() - sent) * 1000)

            project.subscribe(on_event, "task:created")
            script = path / "writer.py"
            script.write_text(WRITER)
            subprocess.run([sys.executable, str(script), str(path), str(events), str(gap)], check=True)
            deadline = time.monotonic() + 10
            while len(arrivals) < events and time.monotonic() < deadline:
                time.sleep(0.05)
        if len(arrivals) < events:
            raise SystemExit(f"only {len(arrivals)} of {events} events arrived")
        return arrivals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="idle window per sample (default 20)")
    parser.add_argument("--events", type=int, default=50, help="events for the latency figure (default 50)")
    parser.add_argument("--gap", type=float, default=0.8, help="seconds between them: past the watcher's settling")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON on the last line")
    args = parser.parse_args()
    print(f"idle CPU per 20 s ({args.seconds:g} s windows); peer = the same process polling every 50 ms")
    rows = idle_table(args.seconds)
    ms = sorted(latency(args.events, args.gap))
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    print(f"another process's event to a subscriber (idle watcher, {len(ms)} events): "
          f"p50 {statistics.median(ms):.1f} ms, p99 {p99:.1f} ms, max {ms[-1]:.1f} ms")
    if args.json:
        print(json.dumps({"idle": [{"process": face, "projects": n, "cpuPer20s": ours, "peerCpuPer20s": peer}
                                   for face, n, ours, peer in rows],
                          "latencyMs": {"p50": statistics.median(ms), "p99": p99, "max": ms[-1]}}))


if __name__ == "__main__":
    main()
