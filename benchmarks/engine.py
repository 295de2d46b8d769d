#!/usr/bin/env python
"""Engine overhead: polpo vs Dask, LangGraph, DBOS and Prefect on one no-op layered DAG, in one process.

    .venv/bin/python benchmarks/engine.py [--tasks 2000] [--width 10] [--repeat 3] [--json] [--profile]
                                          [--peer-path DIR]
    .venv/bin/python benchmarks/engine.py --scale [--sizes 2000,10000,50000,100000] [--json]

Every task does nothing, so wall time / tasks is the per-task overhead of the orchestrator itself:
scheduling, dispatch, bookkeeping and (for polpo and LangGraph) durable writes. The graph is a
`width`-wide layered DAG: task i of layer L depends on tasks i and (i+1) % width of layer L-1, so
every task past the first layer is a two-parent join and each layer is a wave of `width` ready tasks.

- polpo: a fresh project (SQLite WAL, synchronous=FULL), maxConcurrency=width, a no-op function
  agent; timed from `project.execute(mission)` to `run.wait()` returning. Sync and async agents are
  both measured, and FULL vs NORMAL durability as an extra line.
- Dask: a fresh `distributed.LocalCluster(processes=False)` per run, one worker of `width` threads;
  the graph as `dask.delayed` calls, timed from `client.compute` to the last result gathered
  (cluster start-up and building the delayed graph are not timed).
- LangGraph: a `StateGraph` with one node per task and `add_edge([parents], node)` joins, compiled
  with `SqliteSaver` on a fresh file, invoked with `durability="sync"` (each superstep's checkpoint is
  on disk before the next starts, which matches polpo's "every transition durable"). Only the invoke
  is timed; building and compiling the graph are not, just as building the polpo mission is not.
- DBOS (optional): a fresh SQLite system database per run; one async workflow runs each layer's
  `width` steps at once (`asyncio.gather`, each step checkpointed) before the next layer.
- Prefect (optional): its ephemeral local server (SQLite, a temp home, started untimed once per
  process); one flow submits every task (`task.submit(wait_for=parents)`) to a thread-pool task runner
  of `width` threads.
  DBOS and Prefect are not dependencies of polpo: a missing one is skipped with a message. Their pins
  clash with the project's (older websockets, dateutil), so install them apart and point at them:
  `pip install --target DIR dbos prefect`, then `--peer-path DIR` (appended to `sys.path`, so the
  project's own packages still win).

The **floor** line: polpo's write transactions in one run (`Store.commits`) times the cost of one
fsync'd SQLite commit (WAL, synchronous=FULL, one small row) measured on the same disk right before
each headline run (the median of those): what the durable writes alone would cost. polpo's time over the floor is its own bookkeeping.
Under it, the headline's time inside its write transactions (`Store.write_seconds`): the writers' code
(records, events), the rows' SQL and the commits, apart from the engine around them.

After an untimed warm-up, the systems run round-robin `--repeat` times and each one's median is
reported. A run whose result is wrong (a task missing or not done) makes the script exit with status 1.

`--scale` runs polpo alone (sync agent, FULL) at each of `--sizes`, each size in a fresh process so that
peak RSS is that run's: µs/task, setup (execute -> the first agent call), peak RSS above the process's
RSS before the mission was built, and `state.db` bytes (with its WAL) per task after the run.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import operator
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any, TextIO, TypedDict

from common import BenchmarkError, Graph, layered_dag, timed
from optional_peers import optional_peers, run_dbos, run_prefect


@dataclass
class Measurement:
    """The repeated timings of one system on the graph."""

    system: str
    tasks: int
    seconds: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def per_task_us(self) -> float:
        return self.median / self.tasks * 1e6


# -- polpo ---------------------------------------------------------------------------------------------


def polpo_mission(graph: Graph) -> Any:
    """Validate the whole mission at once: the builder re-checks the graph per added task, which is
    quadratic and not what we time."""
    import polpo_nb as polpo

    tasks = [{"title": name, "assignTo": "noop", "dependsOn": deps, "maxRetries": 0} for name, deps in graph.items()]
    return polpo.Mission.model_validate({"name": "bench", "tasks": tasks})


@dataclass
class PolpoRun:
    """One polpo run: its wall time, its write transactions, the time from execute to the first agent
    call (setup), and the size of its state.db (with the WAL) once the run is over."""

    seconds: float
    commits: int
    setup_s: float
    db_bytes: int
    write_s: float  # of `seconds`, inside the store's write transactions (`Store.write_seconds`)
    gc_s: float = 0.0  # of `seconds`, in CPython's cyclic collector (measured by `--scale` only)


class CollectorClock:
    """The seconds CPython's cyclic collector runs inside `with` blocks (a `gc.callbacks` entry while
    inside): at 100,000 tasks its full collections walk every record the run holds, which is where the
    per-task cost bends."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def __enter__(self) -> CollectorClock:
        gc.callbacks.append(self._clock)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._clock)

    def _clock(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started


def run_polpo(graph: Graph, *, is_async: bool, synchronous: str, width: int,
              collector: CollectorClock | None = None) -> PolpoRun:
    """One mission run in a fresh project; the seconds from execute to settled, and what it wrote (with
    `collector`, the collector's share of those seconds)."""
    import polpo_nb as polpo

    mission = polpo_mission(graph)
    first_call: list[float] = []
    with tempfile.TemporaryDirectory(prefix="polpo-bench-") as tmp:
        project = polpo.Project(tmp, config={"maxConcurrency": width, "synchronous": synchronous})
        try:
            if is_async:
                async def noop_async(task: Any, ctx: Any) -> str:
                    if not first_call:
                        first_call.append(time.perf_counter())
                    return "ok"
                project.agent("noop")(noop_async)
            else:
                def noop_sync(task: Any, ctx: Any) -> str:
                    if not first_call:
                        first_call.append(time.perf_counter())
                    return "ok"
                project.agent("noop")(noop_sync)
            store = project.aio.store
            commits_before, write_s_before = store.commits, store.write_seconds
            started: list[float] = []

            def execute() -> Any:
                started.append(time.perf_counter())
                with collector or contextlib.nullcontext():
                    return project.execute(mission).wait()

            elapsed, record = timed(execute)
            commits, write_s = store.commits - commits_before, store.write_seconds - write_s_before
        finally:
            project.close()
        db_bytes = sum(f.stat().st_size for f in Path(tmp, ".polpo").glob("state.db*"))
    done = [t for t in record.tasks if t.status.value == "done"]
    if record.status.value != "completed" or len(done) != len(graph):
        raise BenchmarkError(f"polpo: mission {record.status.value}, {len(done)}/{len(graph)} tasks done")
    return PolpoRun(elapsed, commits, first_call[0] - started[0], db_bytes, write_s,
                    collector.seconds if collector is not None else 0.0)


# -- Dask ----------------------------------------------------------------------------------------------


def dask_noop(*parents: str) -> str:
    """A task that receives its parents' results (so Dask must move them) and does nothing."""
    return "ok"


def dask_graph(graph: Graph) -> list[Any]:
    """The graph as `dask.delayed` objects, each called on its parents' delayed results. Dask sends a
    delayed graph to the scheduler in one message, its fastest path; per-task `client.submit` is
    about twice as slow here, so this keeps the comparison fair to Dask."""
    import dask

    nodes: dict[str, Any] = {}
    for name, deps in graph.items():
        nodes[name] = dask.delayed(dask_noop, pure=False)(*(nodes[d] for d in deps))
    return list(nodes.values())


def run_dask(graph: Graph, width: int) -> float:
    """A fresh in-process cluster (not timed) with one worker of `width` threads, the parallelism polpo
    gets; timed from `client.compute` to the last result gathered."""
    from distributed import Client, LocalCluster

    nodes = dask_graph(graph)
    with (
        LocalCluster(processes=False, n_workers=1, threads_per_worker=width,
                     dashboard_address=None, silence_logs=logging.ERROR) as cluster,
        Client(cluster) as client,
    ):
        elapsed, results = timed(lambda: client.gather(client.compute(nodes)))
    if len(results) != len(graph) or any(r != "ok" for r in results):
        raise BenchmarkError(f"dask: {len(results)}/{len(graph)} results")
    return elapsed


# -- LangGraph -----------------------------------------------------------------------------------------


class GraphState(TypedDict):
    done: Annotated[list[str], operator.add]


def langgraph_builder(graph: Graph) -> Any:
    """One node per task; a list-source edge makes LangGraph wait for *all* parents (a join)."""
    from langgraph.graph import END, START, StateGraph

    def node(name: str) -> Callable[[GraphState], dict[str, list[str]]]:
        def run(state: GraphState) -> dict[str, list[str]]:
            return {"done": [name]}
        return run

    builder = StateGraph(GraphState)
    children: set[str] = set()
    for name, deps in graph.items():
        builder.add_node(name, node(name))
        if not deps:
            builder.add_edge(START, name)
        elif len(deps) == 1:
            builder.add_edge(deps[0], name)
        else:
            builder.add_edge(deps, name)
        children.update(deps)
    for name in graph:
        if name not in children:
            builder.add_edge(name, END)
    return builder


def run_langgraph(builder: Any, graph: Graph, *, supersteps: int) -> float:
    """Compile with a SqliteSaver on a fresh file (not timed), then time one durable invoke."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    with tempfile.TemporaryDirectory(prefix="langgraph-bench-") as tmp:
        conn = sqlite3.connect(os.path.join(tmp, "checkpoints.db"), check_same_thread=False)
        try:
            app = builder.compile(checkpointer=SqliteSaver(conn))
            config = {"configurable": {"thread_id": "bench"}, "recursion_limit": supersteps + 100}
            elapsed, out = timed(lambda: app.invoke({"done": []}, config, durability="sync"))
        finally:
            conn.close()
    if len(out["done"]) != len(graph) or set(out["done"]) != set(graph):
        raise BenchmarkError(f"langgraph: {len(out['done'])}/{len(graph)} nodes ran")
    return elapsed


# -- the floor: one fsync'd commit on this disk -----------------------------------------------------------


def commit_cost(commits: int = 200) -> float:
    """The median seconds of one write transaction of one small row in a SQLite database in WAL mode with
    synchronous=FULL (what polpo's store uses), in the directory polpo's benchmark projects live in."""
    with tempfile.TemporaryDirectory(prefix="polpo-floor-") as tmp:
        conn = sqlite3.connect(os.path.join(tmp, "floor.db"), isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, doc TEXT)")
            doc = "x" * 300
            times = []
            for _ in range(commits):
                started = time.perf_counter()
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("INSERT INTO t (doc) VALUES (?)", (doc,))
                conn.execute("COMMIT")
                times.append(time.perf_counter() - started)
        finally:
            conn.close()
    return statistics.median(times)


# -- driver --------------------------------------------------------------------------------------------

HEADLINE = "polpo (sync agent, FULL)"


def systems(tasks: int, width: int, peers: list[str]) -> list[tuple[Measurement, Callable[[], float | PolpoRun]]]:
    """Each system's measurement and its one-run function, all on the same graph."""
    graph = layered_dag(tasks, width)
    builder = langgraph_builder(graph)
    supersteps = -(-tasks // width)
    out: list[tuple[Measurement, Callable[[], float | PolpoRun]]] = [
        (Measurement(HEADLINE, tasks), lambda: run_polpo(graph, is_async=False, synchronous="FULL", width=width)),
        (Measurement("polpo (async agent, FULL)", tasks),
         lambda: run_polpo(graph, is_async=True, synchronous="FULL", width=width)),
        (Measurement("polpo (sync agent, NORMAL)", tasks),
         lambda: run_polpo(graph, is_async=False, synchronous="NORMAL", width=width)),
        (Measurement("dask (LocalCluster in-process)", tasks), lambda: run_dask(graph, width)),
        (Measurement("langgraph (SqliteSaver, sync)", tasks),
         lambda: run_langgraph(builder, graph, supersteps=supersteps)),
    ]
    if "dbos" in peers:
        out.append((Measurement("dbos (SQLite system database)", tasks), lambda: run_dbos(graph, width)))
    if "prefect" in peers:
        out.append((Measurement("prefect (ephemeral server, SQLite)", tasks), lambda: run_prefect(graph, width)))
    return out


def run_all(tasks: int, width: int, repeat: int, peers: list[str]) -> tuple[list[Measurement], list[PolpoRun], list[float]]:
    """An untimed warm-up of every system on a small graph (imports, lazy schema builds, first
    thread-pool spin-up), then `repeat` round-robin rounds so drift on a busy machine hits all alike.
    Returns the measurements, the headline's runs (their write transactions and the time inside
    them), and the cost of one commit measured right before each headline run (the disk's load moves
    with the machine's). Progress goes to stderr so --json stays clean on stdout."""
    for _, once in systems(min(tasks, 10 * width), width, peers):
        once()
    measured = systems(tasks, width, peers)
    headline_runs: list[PolpoRun] = []
    costs: list[float] = []
    for i in range(repeat):
        for m, once in measured:
            if m.system == HEADLINE:
                costs.append(commit_cost())
            result = once()
            if isinstance(result, PolpoRun):
                if m.system == HEADLINE:
                    headline_runs.append(result)
                result = result.seconds
            m.seconds.append(result)
            print(f"  round {i + 1}/{repeat} {m.system}: {m.seconds[-1]:.3f}s", file=sys.stderr, flush=True)
    return [m for m, _ in measured], headline_runs, costs


def report(results: list[Measurement], *, tasks: int, width: int, repeat: int, headline_runs: list[PolpoRun],
           costs: list[float]) -> dict[str, Any]:
    """Every row with polpo's headline (sync agent, FULL durability) over it; the floor; the part of the
    headline spent inside write transactions; the issue's targets: the headline at most 120 µs/task, at
    most 0.1 of Dask, within 3x of the floor."""
    headline = next(m for m in results if m.system == HEADLINE)
    dask = next(m for m in results if m.system.startswith("dask"))
    rows = [{**asdict(m), "median_s": m.median, "per_task_us": m.per_task_us, "polpo_over": headline.median / m.median}
            for m in results]
    transactions = statistics.median(r.commits for r in headline_runs)
    in_writes_s = statistics.median(r.write_s for r in headline_runs)
    commit_s = statistics.median(costs)
    floor_s = transactions * commit_s
    return {
        "tasks": tasks, "width": width, "repeat": repeat, "rows": rows,
        "floor": {"write_transactions": transactions, "commit_ms": commit_s * 1e3,
                  "commit_ms_each_round": [c * 1e3 for c in costs], "seconds": floor_s,
                  "per_task_us": floor_s / tasks * 1e6, "polpo_over_floor": headline.median / floor_s},
        "in_write_transactions": {"seconds": in_writes_s, "per_task_us": in_writes_s / tasks * 1e6,
                                  "share_of_headline": in_writes_s / headline.median},
        "polpo_over_dask": headline.median / dask.median,
        "target_met": headline.per_task_us <= 120 and headline.median <= 0.1 * dask.median
        and headline.median <= 3 * floor_s,
    }


def print_table(summary: dict[str, Any]) -> None:
    print(f"{summary['tasks']} no-op tasks, {summary['width']}-wide layered DAG, "
          f"median of {summary['repeat']} (per-task = wall / tasks)")
    header = f"{'system':<34} {'total s':>8} {'µs/task':>9} {'polpo/this':>11}"
    print(header)
    print("-" * len(header))
    for r in summary["rows"]:
        print(f"{r['system']:<34} {r['median_s']:>8.3f} {r['per_task_us']:>9.0f} {r['polpo_over']:>11.2f}")
    f = summary["floor"]
    print(f"{'floor (fsync-bound writes alone)':<34} {f['seconds']:>8.3f} {f['per_task_us']:>9.0f} "
          f"{f['polpo_over_floor']:>11.2f}")
    print(f"  floor = {f['write_transactions']:.0f} write transactions per run x {f['commit_ms']:.3f} ms per fsync'd "
          "SQLite commit (WAL, synchronous=FULL, one small row; the median of 200 measured on this disk right "
          "before each headline run)")
    w = summary["in_write_transactions"]
    print(f"  of the headline, {w['per_task_us']:.0f} µs/task ({w['share_of_headline']:.0%}) inside its write transactions "
          "(the writers' code: records, events, rows; then the SQL and the commit)")
    verdict = "met" if summary["target_met"] else "NOT met"
    print(f"target (polpo sync/FULL <= 120 µs/task, <= 0.1 x dask, <= 3 x floor): {verdict} "
          f"(polpo/dask {summary['polpo_over_dask']:.2f}, polpo/floor {f['polpo_over_floor']:.2f})")


# -- --scale: polpo alone at growing sizes, each in a fresh process ------------------------------------------


def rss_bytes() -> int:
    """The process's resident set now (Linux: /proc/self/statm)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def scale_one(tasks: int, width: int) -> dict[str, Any]:
    """One size, in this (fresh) process: the baseline is the RSS after imports and a warm-up run,
    before the mission is built; the peak is the process's high-water mark after the run."""
    import resource

    run_polpo(layered_dag(10 * width, width), is_async=False, synchronous="FULL", width=width)  # imports, first use
    gc.collect()
    baseline = rss_bytes()
    result = run_polpo(layered_dag(tasks, width), is_async=False, synchronous="FULL", width=width,
                       collector=CollectorClock())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"tasks": tasks, "seconds": result.seconds, "per_task_us": result.seconds / tasks * 1e6,
            "setup_s": result.setup_s, "setup_us_per_task": result.setup_s / tasks * 1e6,
            "gc_us_per_task": result.gc_s / tasks * 1e6,
            "baseline_rss_mb": baseline / 2**20, "peak_rss_above_mb": (peak - baseline) / 2**20,
            "rss_kb_per_task": (peak - baseline) / 1024 / tasks, "db_bytes": result.db_bytes,
            "db_bytes_per_task": result.db_bytes / tasks, "commits": result.commits}


def run_scale(sizes: list[int], width: int, repeat: int = 1) -> list[dict[str, Any]]:
    """Each size in a child process running `--scale-one`, so each peak RSS is that run's alone; with
    `repeat`, rounds of every size in turn, and each figure the median of its size's runs."""
    runs: dict[int, list[dict[str, Any]]] = {size: [] for size in sizes}
    for round_ in range(repeat):
        for size in sizes:
            print(f"  round {round_ + 1}/{repeat}: {size} tasks ...", file=sys.stderr, flush=True)
            out = subprocess.run([sys.executable, __file__, "--scale-one", str(size), "--width", str(width)],
                                 capture_output=True, text=True, check=False)
            if out.returncode != 0:
                raise BenchmarkError(f"{size} tasks: {out.stderr.strip()[-2000:]}")
            runs[size].append(json.loads(out.stdout))
    return [{key: statistics.median(r[key] for r in rows) for key in rows[0]} | {"tasks": size, "runs": len(rows)}
            for size, rows in runs.items()]


def print_scale(rows: list[dict[str, Any]], width: int) -> None:
    runs = rows[0]["runs"]
    print(f"polpo (sync agent, FULL), {width}-wide layered DAG of no-op tasks, each run in a fresh process, "
          + ("one run per size" if runs == 1 else f"the median of {runs} runs per size"))
    header = (f"{'tasks':>7} {'µs/task':>8} {'of which gc':>12} {'setup s':>8} {'setup µs/task':>14} "
              f"{'peak RSS above':>15} {'KB/task':>8} {'state.db':>10} {'B/task':>7}")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['tasks']:>7} {r['per_task_us']:>8.0f} {r['gc_us_per_task']:>12.0f} {r['setup_s']:>8.2f} "
              f"{r['setup_us_per_task']:>14.0f} "
              f"{r['peak_rss_above_mb']:>12.0f} MB {r['rss_kb_per_task']:>8.1f} {r['db_bytes'] / 2**20:>7.1f} MB "
              f"{r['db_bytes_per_task']:>7.0f}")
    first, last = rows[0], rows[-1]
    print(f"µs/task at {last['tasks']} / at {first['tasks']}: {last['per_task_us'] / first['per_task_us']:.2f} "
          "(target <= 1.1); targets also: setup <= 20 µs/task, <= 4 KB RSS and <= 2 KB state.db per task")


def profile_polpo(tasks: int, width: int, out: TextIO, top: int = 15) -> None:
    """cProfile one polpo run on the engine's loop thread, where all of the engine's own work happens
    (the no-op agents' worker threads do nothing worth seeing), and print the `top` entries inside
    polpo_nb by cumulative time. cProfile roughly doubles the run time; read it for proportions."""
    import cProfile
    import pstats
    import threading

    profiles: list[cProfile.Profile] = []
    real_run = threading.Thread.run

    def profiled_run(self: threading.Thread) -> None:
        if not self.name.startswith("polpo-engine"):
            return real_run(self)
        prof = cProfile.Profile()
        profiles.append(prof)
        with prof:
            real_run(self)

    threading.Thread.run = profiled_run  # type: ignore[method-assign]
    try:
        run_polpo(layered_dag(tasks, width), is_async=False, synchronous="FULL", width=width)
    finally:
        threading.Thread.run = real_run  # type: ignore[method-assign]
    stats = pstats.Stats(*profiles).stats  # type: ignore[attr-defined]
    ours = sorted(((k, v) for k, v in stats.items() if "polpo_nb" in k[0]), key=lambda kv: kv[1][3], reverse=True)
    print(f"\ntop {top} cumulative in polpo_nb (engine thread, one sync/FULL run incl. mission save):", file=out)
    print(f"{'cum s':>8} {'tot s':>8} {'calls':>8}  function", file=out)
    for (path, line, fn), (_cc, calls, tot, cum, _callers) in ours[:top]:
        rel = path.split("polpo_nb", 1)[1].lstrip("/")
        print(f"{cum:>8.3f} {tot:>8.3f} {calls:>8}  {rel}:{line} {fn}", file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--width", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--profile", action="store_true",
                        help="also cProfile one polpo run and print polpo_nb's top 15 by cumulative time")
    parser.add_argument("--peer-path", action="append", default=[],
                        help="a directory the optional peers (dbos, prefect) were installed in with pip --target")
    parser.add_argument("--scale", action="store_true", help="the size table of polpo alone (see --sizes)")
    parser.add_argument("--sizes", default="2000,10000,50000,100000", help="--scale: task counts")
    parser.add_argument("--scale-repeat", type=int, default=1, help="--scale: runs per size (the median is shown)")
    parser.add_argument("--scale-one", type=int, help=argparse.SUPPRESS)  # one size, in a child process
    args = parser.parse_args(argv)
    sys.path.extend(args.peer_path)
    try:
        if args.scale_one:
            print(json.dumps(scale_one(args.scale_one, args.width)))
            return 0
        if args.scale:
            rows = run_scale([int(x) for x in args.sizes.split(",")], args.width, args.scale_repeat)
            if args.json:
                print(json.dumps(rows, indent=2))
            else:
                print_scale(rows, args.width)
            return 0
        peers = optional_peers()
        results, headline_runs, costs = run_all(args.tasks, args.width, args.repeat, peers)
    except BenchmarkError as exc:
        print(f"wrong result: {exc}", file=sys.stderr)
        return 1
    summary = report(results, tasks=args.tasks, width=args.width, repeat=args.repeat, headline_runs=headline_runs,
                     costs=costs)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print_table(summary)
    if args.profile:
        profile_polpo(args.tasks, args.width, sys.stderr if args.json else sys.stdout)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
