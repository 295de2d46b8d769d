"""What the engine benchmarks share: the graph, its timing, and the error a wrong result raises."""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable
from typing import Any

Graph = dict[str, list[str]]
"""Task name -> the names it depends on, in topological order (parents before children)."""


class BenchmarkError(RuntimeError):
    """A system produced a wrong result: its timing would be meaningless."""


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
