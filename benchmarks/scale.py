#!/usr/bin/env python
"""Scale-out: 200 I/O-bound tasks (50 ms each), 50 at a time, in-process vs on a Dask LocalCluster.

    .venv/bin/python benchmarks/scale.py [--tasks 200] [--sleep 0.05] [--concurrency 50] [--workers 2]
                                         [--repeat 3] [--json]

In-process, the agent is async (`await asyncio.sleep`) on the engine's loop. On Dask, the agent is
sync (`time.sleep`) and runs in the worker threads of a LocalCluster of `--workers` worker processes
with enough threads between them for `--concurrency` tasks at once; every attempt is pickled, submitted,
run, and its result (and reported output) shipped back. Both runs go through the whole engine: durable
attempt rows and transitions (SQLite WAL, synchronous=FULL), events, assessment (none to do here).

A third row runs the same sleeps through `distributed` alone on the same cluster (no polpo): the
floor any executor built on per-task `submit` starts from. Ideal time = tasks x sleep / concurrency, the wall time with zero overhead; overhead ratio = wall /
ideal. One untimed warm-up mission runs first on each executor (imports, worker-side unpickling of
polpo); each figure is the median of `--repeat` missions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from distributed import Client, LocalCluster

import polpo_nb as polpo
from polpo_nb.executors import Executor
from polpo_nb.executors.dask import DaskExecutor
from polpo_nb.spec import MissionStatus

SLEEP = 0.05


async def sleep_async(task: Any, ctx: Any) -> str:
    await asyncio.sleep(SLEEP)
    return "slept"


def sleep_sync(task: Any, ctx: Any) -> str:
    time.sleep(SLEEP)
    return "slept"


def mission(name: str, tasks: int) -> polpo.Mission:
    m = polpo.Mission(name)
    for i in range(tasks):
        m.task(f"t{i}", assign_to="sleeper")
    return m


def measure(label: str, agent: Any, executor: Executor | None, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        project = polpo.Project(Path(tmp), config={"maxConcurrency": args.concurrency}, executor=executor)
        try:
            project.agent("sleeper")(agent)
            project.execute(mission("warm-up", 4)).wait(120)
            walls = []
            for i in range(args.repeat):
                started = time.perf_counter()
                record = project.execute(mission(f"run-{i}", args.tasks)).wait(600)
                walls.append(time.perf_counter() - started)
                assert record.status == MissionStatus.COMPLETED, record.status
        finally:
            project.close()
    wall = statistics.median(walls)
    ideal = args.tasks * args.sleep / args.concurrency
    return {"executor": label, "tasks": args.tasks, "wall_s": wall, "throughput": args.tasks / wall,
            "ideal_s": ideal, "overhead_ratio": wall / ideal, "walls": walls}


def measure_raw_dask(client: Client, label: str, args: argparse.Namespace) -> dict[str, Any]:
    """The floor under the Dask row: the same sleeps through `distributed` alone, no polpo, on the
    client's own loop as the executor does it: `--concurrency` in flight, one `submit` per task."""

    async def sleeps() -> None:
        gate = asyncio.Semaphore(args.concurrency)

        async def one() -> None:
            async with gate:
                await client.submit(sleep_sync, None, None, pure=False)

        await asyncio.gather(*(one() for _ in range(args.tasks)))

    walls = []
    for _ in range(args.repeat + 1):  # the first round warms up
        started = time.perf_counter()
        client.sync(sleeps)
        walls.append(time.perf_counter() - started)
    wall = statistics.median(walls[1:])
    ideal = args.tasks * args.sleep / args.concurrency
    return {"executor": label, "tasks": args.tasks, "wall_s": wall, "throughput": args.tasks / wall,
            "ideal_s": ideal, "overhead_ratio": wall / ideal, "walls": walls[1:]}


def main() -> None:
    global SLEEP
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--sleep", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    SLEEP = args.sleep  # the agents read it; `__main__` functions reach the workers by value, globals included

    rows = [measure("in-process (async agent, asyncio.sleep)", sleep_async, None, args)]
    threads = math.ceil(args.concurrency / args.workers)
    with LocalCluster(n_workers=args.workers, threads_per_worker=threads, processes=True,
                      dashboard_address=None, scheduler_kwargs={"dashboard_address": ":0"}) as cluster, Client(cluster) as client:
        label = f"Dask LocalCluster {args.workers}x{threads} threads (sync agent, time.sleep)"
        rows.append(measure(label, sleep_sync, DaskExecutor(client), args))
        rows.append(measure_raw_dask(client, "  same cluster, distributed alone (no polpo, for reference)", args))

    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{args.tasks} tasks x {args.sleep * 1000:g} ms sleep, maxConcurrency {args.concurrency}, "
          f"median of {args.repeat}")
    print(f"{'executor':<62} {'wall s':>7} {'tasks/s':>8} {'ideal s':>8} {'overhead':>9}")
    for r in rows:
        print(f"{r['executor']:<62} {r['wall_s']:>7.3f} {r['throughput']:>8.1f} {r['ideal_s']:>8.3f} "
              f"{r['overhead_ratio']:>8.2f}x")
    local, dask, raw = rows
    print(f"Dask / in-process wall time: {dask['wall_s'] / local['wall_s']:.2f}x; polpo on Dask vs distributed alone: "
          f"+{(dask['wall_s'] - raw['wall_s']) / args.tasks * 1000:.2f} ms per task "
          f"(engine, store and events for each attempt, plus the hop to the client's loop)")


if __name__ == "__main__":
    main()
