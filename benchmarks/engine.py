#!/usr/bin/env python
"""Engine overhead: polpo vs Dask vs LangGraph on one no-op layered DAG, in one process.

    .venv/bin/python benchmarks/engine.py [--tasks 2000] [--width 10] [--repeat 3] [--json] [--profile]

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

After an untimed warm-up, the systems run round-robin `--repeat` times and each one's median is
reported. A run whose result is wrong (a task missing or not done) makes the script exit with status 1.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import operator
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any, TextIO, TypedDict

Graph = dict[str, list[str]]
"""Task name -> the names it depends on, in topological order (parents before children)."""


class BenchmarkError(RuntimeError):
    """A system produced a wrong result: its timing would be meaningless."""


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


def layered_dag(tasks: int, width: int) -> Graph:
    """The benchmark graph. Two parents per task (not all `width`) keeps the edge count linear in the
    number of tasks, so we measure per-task cost rather than per-edge cost."""
    graph: Graph = {}
    for n in range(tasks):
        layer, i = divmod(n, width)
        if layer == 0:
            graph[f"t{n}"] = []
            continue
        base = (layer - 1) * width
        parents = dict.fromkeys([f"t{base + i}", f"t{base + (i + 1) % width}"])
        graph[f"t{n}"] = list(parents)
    return graph


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall time of `fn()` with a monotonic high-resolution clock, and what it returned. Collecting
    garbage and flushing dirty pages first keep a previous run's leftovers (LangGraph writes ~40 MB of
    checkpoints) out of this one's timing and fsyncs. Freezing what survives keeps the other systems'
    heaps out of this one's garbage collections: with all three loaded the process holds ~170k objects
    (4x polpo's alone), and a full collection triggered by one system's allocations would otherwise scan
    the others' modules too (~100 ms per collection here), charging a system for what else is imported."""
    gc.collect()
    gc.freeze()
    os.sync()
    try:
        start = time.perf_counter()
        result = fn()
        return time.perf_counter() - start, result
    finally:
        gc.unfreeze()


# -- polpo ---------------------------------------------------------------------------------------------


def polpo_mission(graph: Graph) -> Any:
    """Validate the whole mission at once: the builder re-checks the graph per added task, which is
    quadratic and not what we time."""
    import polpo_nb as polpo

    tasks = [{"title": name, "assignTo": "noop", "dependsOn": deps, "maxRetries": 0} for name, deps in graph.items()]
    return polpo.Mission.model_validate({"name": "bench", "tasks": tasks})


def run_polpo(graph: Graph, *, is_async: bool, synchronous: str, width: int) -> float:
    """One mission run in a fresh project; returns the seconds from execute to settled."""
    import polpo_nb as polpo

    mission = polpo_mission(graph)
    with tempfile.TemporaryDirectory(prefix="polpo-bench-") as tmp:
        project = polpo.Project(tmp, config={"maxConcurrency": width, "synchronous": synchronous})
        try:
            if is_async:
                async def noop_async(task: Any, ctx: Any) -> str:
                    return "ok"
                project.agent("noop")(noop_async)
            else:
                def noop_sync(task: Any, ctx: Any) -> str:
                    return "ok"
                project.agent("noop")(noop_sync)

            elapsed, record = timed(lambda: project.execute(mission).wait())
        finally:
            project.close()
    done = [t for t in record.tasks if t.status.value == "done"]
    if record.status.value != "completed" or len(done) != len(graph):
        raise BenchmarkError(f"polpo: mission {record.status.value}, {len(done)}/{len(graph)} tasks done")
    return elapsed


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


# -- driver --------------------------------------------------------------------------------------------


def systems(tasks: int, width: int) -> list[tuple[Measurement, Callable[[], float]]]:
    """Each system's measurement and its one-run function, all on the same graph."""
    graph = layered_dag(tasks, width)
    builder = langgraph_builder(graph)
    supersteps = -(-tasks // width)
    return [
        (Measurement("polpo (sync agent, FULL)", tasks),
         lambda: run_polpo(graph, is_async=False, synchronous="FULL", width=width)),
        (Measurement("polpo (async agent, FULL)", tasks),
         lambda: run_polpo(graph, is_async=True, synchronous="FULL", width=width)),
        (Measurement("polpo (sync agent, NORMAL)", tasks),
         lambda: run_polpo(graph, is_async=False, synchronous="NORMAL", width=width)),
        (Measurement("dask (LocalCluster in-process)", tasks), lambda: run_dask(graph, width)),
        (Measurement("langgraph (SqliteSaver, sync)", tasks),
         lambda: run_langgraph(builder, graph, supersteps=supersteps)),
    ]


def run_all(tasks: int, width: int, repeat: int) -> list[Measurement]:
    """An untimed warm-up of every system on a small graph (imports, lazy schema builds, first
    thread-pool spin-up), then `repeat` round-robin rounds so drift on a busy machine hits all alike.
    Progress goes to stderr so --json stays clean on stdout."""
    for _, once in systems(min(tasks, 10 * width), width):
        once()
    measured = systems(tasks, width)
    for i in range(repeat):
        for m, once in measured:
            m.seconds.append(once())
            print(f"  round {i + 1}/{repeat} {m.system}: {m.seconds[-1]:.3f}s", file=sys.stderr, flush=True)
    return [m for m, _ in measured]


def report(results: list[Measurement], *, tasks: int, width: int, repeat: int) -> dict[str, Any]:
    """Ratios use polpo's headline line (sync agent, FULL durability) unless a row is polpo itself."""
    by_name = {m.system: m for m in results}
    dask = next(m for m in results if m.system.startswith("dask"))
    graph = next(m for m in results if m.system.startswith("langgraph"))
    headline = by_name["polpo (sync agent, FULL)"]
    rows = []
    for m in results:
        polpo_row = m.system.startswith("polpo")
        rows.append({
            **asdict(m), "median_s": m.median, "per_task_us": m.per_task_us,
            "vs_dask": m.median / dask.median if polpo_row else None,
            "vs_langgraph": m.median / graph.median if polpo_row else None,
        })
    return {
        "tasks": tasks, "width": width, "repeat": repeat, "rows": rows,
        "polpo_over_dask": headline.median / dask.median,
        "polpo_over_langgraph": headline.median / graph.median,
        "target_met": headline.median <= dask.median and headline.median <= graph.median / 2,
    }


def print_table(summary: dict[str, Any]) -> None:
    print(f"{summary['tasks']} no-op tasks, {summary['width']}-wide layered DAG, "
          f"median of {summary['repeat']} (per-task = wall / tasks)")
    header = f"{'system':<32} {'total s':>8} {'per-task µs':>12} {'polpo/dask':>11} {'polpo/langgraph':>16}"
    print(header)
    print("-" * len(header))
    for r in summary["rows"]:
        vs_d = f"{r['vs_dask']:.2f}" if r["vs_dask"] is not None else ""
        vs_g = f"{r['vs_langgraph']:.2f}" if r["vs_langgraph"] is not None else ""
        print(f"{r['system']:<32} {r['median_s']:>8.3f} {r['per_task_us']:>12.0f} {vs_d:>11} {vs_g:>16}")
    verdict = "met" if summary["target_met"] else "NOT met"
    print(f"target (polpo sync agent/FULL <= dask and <= 1/2 langgraph): {verdict} "
          f"(polpo/dask {summary['polpo_over_dask']:.2f}, polpo/langgraph {summary['polpo_over_langgraph']:.2f})")


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
    args = parser.parse_args(argv)
    try:
        results = run_all(args.tasks, args.width, args.repeat)
    except BenchmarkError as exc:
        print(f"wrong result: {exc}", file=sys.stderr)
        return 1
    summary = report(results, tasks=args.tasks, width=args.width, repeat=args.repeat)
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
