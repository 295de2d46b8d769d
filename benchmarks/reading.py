#!/usr/bin/env python
"""A run while a client reads: the headline run alone, against the same run beside a client that lists
a big mission's tasks without pause, in one process.

    .venv/bin/python benchmarks/reading.py [--tasks 2000] [--listed 20000] [--repeat 3] [--json]

One project holds a saved (not run) mission of `--listed` no-op tasks. Each round runs a fresh
`--tasks` mission of the engine benchmark's graph (sync agent, FULL) twice, alone and while a thread
calls `project.list_tasks()` in a loop (a dashboard or a script polling the whole list: the worst
reader, each list parsing every task of the project). It prints each line's median µs/task, the lists
read meanwhile, and the ratio of the two. The reads run on the project's reader (`store/reader.py`):
before it, each list held the engine's loop for its whole length, and at 500 tasks this ratio was 138
(2.9 on the reader; 6.7 at 2,000 tasks).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from typing import Any

from common import BenchmarkError, layered_dag
from engine import polpo_mission


def run_once(project: Any, tasks: int, width: int, *, reading: bool) -> tuple[float, int]:
    """Seconds for one `tasks`-task run (with a client listing meanwhile if `reading`), and lists read."""
    mission = polpo_mission(layered_dag(tasks, width))
    mission.name = f"run-{time.monotonic_ns()}"
    stop, lists = threading.Event(), [0]

    def client() -> None:
        while not stop.is_set():
            project.list_tasks()
            lists[0] += 1

    reader = threading.Thread(target=client, name="bench-client")
    if reading:
        reader.start()
    try:
        started = time.perf_counter()
        record = project.execute(mission).wait()
        seconds = time.perf_counter() - started
    finally:
        stop.set()
        if reading:
            reader.join()
    if record.status.value != "completed":
        raise BenchmarkError(f"polpo: mission {record.status.value}")
    project.delete_mission(mission.name)  # the next round's client lists as many tasks as this one's
    return seconds, lists[0]


def measure(tasks: int, listed: int, width: int, repeat: int) -> dict[str, Any]:
    import polpo_nb as polpo

    big = polpo_mission(layered_dag(listed, width))
    big.name = "listed"
    alone: list[float] = []
    beside: list[float] = []
    lists: list[int] = []
    with tempfile.TemporaryDirectory(prefix="polpo-bench-") as tmp:
        project = polpo.Project(tmp, config={"maxConcurrency": width})
        try:
            project.agent("noop")(lambda task, ctx: "ok")
            project.save_mission(big)
            started = time.perf_counter()
            count = len(project.list_tasks())
            one_list = time.perf_counter() - started
            run_once(project, min(tasks, 200), width, reading=False)  # warm-up
            for _ in range(repeat):
                alone.append(run_once(project, tasks, width, reading=False)[0])
                seconds, read = run_once(project, tasks, width, reading=True)
                beside.append(seconds)
                lists.append(read)
        finally:
            project.close()
    per_task = {"alone": statistics.median(alone) / tasks * 1e6, "reading": statistics.median(beside) / tasks * 1e6}
    return {"tasks": tasks, "listed": count, "one_list_s": one_list, "repeat": repeat,
            "alone_us_per_task": per_task["alone"], "reading_us_per_task": per_task["reading"],
            "lists_per_run": statistics.median(lists), "ratio": per_task["reading"] / per_task["alone"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--listed", type=int, default=20000, help="tasks of the mission the client lists")
    parser.add_argument("--width", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    result = measure(args.tasks, args.listed, args.width, args.repeat)
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
        return 0
    print(f"{result['tasks']} no-op tasks, {args.width} wide, median of {result['repeat']}; the client lists "
          f"{result['listed']} tasks ({result['one_list_s']:.2f} s a list alone)")
    print(f"{'run':<22} {'µs/task':>9} {'lists meanwhile':>16}")
    print(f"{'alone':<22} {result['alone_us_per_task']:>9.0f} {'':>16}")
    print(f"{'beside a listing client':<22} {result['reading_us_per_task']:>9.0f} {result['lists_per_run']:>16.0f}")
    print(f"ratio (beside / alone): {result['ratio']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
