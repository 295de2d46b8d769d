"""The optional peers of `benchmarks/engine.py`: DBOS and Prefect, installed apart (their pins clash with
the project's; see benchmarks/README.md) and skipped with a message when they do not import."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from typing import Any

from common import BenchmarkError, Graph, timed

# -- DBOS (optional) -------------------------------------------------------------------------------------


def run_dbos(graph: Graph, width: int) -> float:
    """A fresh DBOS on a fresh SQLite system database (launch not timed); one async workflow runs the
    layers, each layer's `width` steps at once (`asyncio.gather`, which DBOS checkpoints step by step).
    Child workflows per task, DBOS's other way to run steps side by side, were ~4x slower here."""
    import asyncio

    from dbos import DBOS

    layers = [list(graph)[i:i + width] for i in range(0, len(graph), width)]
    dag = _dbos_workflow()
    with tempfile.TemporaryDirectory(prefix="dbos-bench-") as tmp:
        DBOS(config={"name": "polpo-bench", "system_database_url": f"sqlite:///{tmp}/dbos.sqlite",
                     "run_admin_server": False})
        DBOS.launch()
        try:
            elapsed, done = timed(lambda: asyncio.run(dag(layers)))
        finally:
            DBOS.destroy(destroy_registry=False)
    if sorted(done) != sorted(graph):
        raise BenchmarkError(f"dbos: {len(done)}/{len(graph)} tasks ran")
    return elapsed


_DBOS_WORKFLOW: Callable[..., Any] | None = None


def _dbos_workflow() -> Callable[..., Any]:
    """DBOS registers functions by name once per process: define them once."""
    global _DBOS_WORKFLOW
    if _DBOS_WORKFLOW is None:
        import asyncio

        from dbos import DBOS

        @DBOS.step()
        async def noop_step(name: str) -> str:
            return name

        @DBOS.workflow()
        async def dag_workflow(layers: list[list[str]]) -> list[str]:
            done: list[str] = []
            for layer in layers:
                done += await asyncio.gather(*(noop_step(name) for name in layer))
            return done

        _DBOS_WORKFLOW = dag_workflow
    return _DBOS_WORKFLOW


# -- Prefect (optional) ----------------------------------------------------------------------------------


def run_prefect(graph: Graph, width: int) -> float:
    """One flow on Prefect's ephemeral local server (its own home and SQLite database in a temp
    directory, started by an untimed flow before the first run); every task submitted with its
    parents' futures as `wait_for`, on a thread-pool task runner of `width` threads."""
    for name, value in (("PREFECT_HOME", tempfile.mkdtemp(prefix="prefect-bench-")),
                        ("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120"),  # slow on a busy machine
                        ("PREFECT_SERVER_ANALYTICS_ENABLED", "false"), ("PREFECT_LOGGING_LEVEL", "WARNING")):
        os.environ.setdefault(name, value)  # read when prefect is first imported
    from prefect import flow, task
    from prefect.task_runners import ThreadPoolTaskRunner

    @task(persist_result=False)
    def noop(name: str) -> str:
        return name

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=width), persist_result=False)
    def dag() -> list[str]:
        futures: dict[str, Any] = {}
        for name, deps in graph.items():
            futures[name] = noop.submit(name, wait_for=[futures[d] for d in deps])
        return [f.result() for f in futures.values()]

    @flow
    def warm() -> None:
        return None

    warm()  # the ephemeral server comes up here (once per process), not in the timed run
    elapsed, done = timed(dag)
    if sorted(done) != sorted(graph):
        raise BenchmarkError(f"prefect: {len(done)}/{len(graph)} tasks ran")
    return elapsed


def optional_peers() -> list[str]:
    """The optional peers that import here; a missing one is said once on stderr."""
    import importlib.util

    found = []
    for name, module in (("dbos", "dbos"), ("prefect", "prefect")):
        if importlib.util.find_spec(module) is None:
            print(f"  {name}: not installed, skipped (pip install --target DIR {name}; then --peer-path DIR)",
                  file=sys.stderr, flush=True)
        else:
            found.append(name)
    return found
