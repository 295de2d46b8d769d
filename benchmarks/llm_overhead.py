#!/usr/bin/env python
"""Orchestration overhead around model calls: a 20-task mission of LLM agents on a loopback fake model.

    .venv/bin/python benchmarks/llm_overhead.py [--tasks 20] [--latency 0.05] [--repeat 3] [--concurrency 1]
                                                [--json] [--profile]

Every task is the real path of an LLM agent: the OpenAI-compatible provider (`providers.local.baseUrl`),
pydantic-ai's tool loop, the built-in `write_file` tool, the LLM judge scoring one criterion, the file
outcome check, and every durable write (SQLite WAL, synchronous=FULL), events and transcript lines.
The model is `polpo_nb.testing.LoopbackOpenAI` on 127.0.0.1, sleeping `--latency` seconds per
completion: per task, turn 1 calls `write_file`, turn 2 answers, and the judge returns its verdict
(3 completions per task).

"Waiting for the model" is measured on the client side, around pydantic-ai's `Model.request` (HTTP
round trip, the fake server's work and its sleep, the OpenAI SDK's parsing); everything else between
`project.execute` and `run.wait()` returning is our overhead (polpo engine, store, events, prompts,
tools, assessment, and pydantic-ai's agent graph). With `--concurrency 1` (the default) tasks run one
after another, so wall time = model wait + overhead exactly. An untimed 1-task mission warms up first
(imports, client creation, tool schemas); each figure is the median of `--repeat` runs.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic_ai.models.wrapper import WrapperModel

import polpo_nb as polpo
from polpo_nb.agents.models import ModelRegistry
from polpo_nb.spec import MissionStatus, TaskStatus
from polpo_nb.testing import LoopbackOpenAI, last_message, text, tool_call, tool_names

MODEL = "local:bench-model"
KEY_ENV = "POLPO_BENCH_KEY"


def reply(body: dict[str, Any]) -> dict[str, Any]:
    """The fake model: write the task's file, then answer; as the judge, a passing verdict."""
    if "final_result" in tool_names(body):
        return tool_call("final_result", {"score": 4, "feedback": "meets the criterion"})
    if last_message(body)["role"] == "tool":
        return text("Done: the file is written.")
    prompt = next(m["content"] for m in body["messages"] if m["role"] == "user")
    title = re.search(r"## Your task: (.+)", prompt).group(1).strip()  # type: ignore[union-attr]
    return tool_call("write_file", {"path": f"out/{title}.md", "content": f"# {title}\n\nSome content.\n"})


class TimedModel(WrapperModel):
    """Adds up the time spent inside `request`: the time the agent waits for the model."""

    seconds: float = 0.0
    calls: int = 0

    async def request(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await super().request(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - started
            self.calls += 1


def mission(name: str, tasks: int) -> polpo.Mission:
    return polpo.Mission.model_validate({
        "name": name, "prompt": "Write the pages of a small handbook.",
        "tasks": [{"title": f"page-{i:02d}", "description": f"Write page {i} to out/page-{i:02d}.md",
                   "assignTo": "writer", "maxRetries": 0,
                   "expectations": ["The page has a title and some content"],
                   "expectedOutcomes": [{"type": "file", "path": f"out/page-{i:02d}.md"}]}
                  for i in range(tasks)],
        "team": {"agents": [{"name": "writer", "role": "handbook writer", "model": MODEL}]},
    })


async def run_once(server: LoopbackOpenAI, tasks: int, concurrency: int,
                   profile: cProfile.Profile | None) -> dict[str, float]:
    """One project on this thread's loop (so a profile sees the engine, the tools and pydantic-ai)."""
    os.environ[KEY_ENV] = "sk-bench"
    config = {"providers": {"local": {"baseUrl": server.base_url, "apiKeyEnv": KEY_ENV}},
              "judgeModel": MODEL, "maxConcurrency": concurrency}
    with tempfile.TemporaryDirectory() as tmp:
        project = await polpo.AsyncProject.open(tmp, config=config)
        try:
            timed = TimedModel(ModelRegistry(project.config.providers).resolve(MODEL))
            project.models.register(MODEL, timed)  # the real provider-built model, with a stopwatch around it
            warm = await (await project.execute_mission(mission("warm-up", 1)))
            assert warm.status == MissionStatus.COMPLETED, warm.error

            timed.seconds, timed.calls = 0.0, 0
            served_before, busy_before = len(server.requests), server.busy_seconds
            if profile:
                profile.enable()
            started = time.perf_counter()
            record = await (await project.execute_mission(mission("handbook", tasks)))
            wall = time.perf_counter() - started
            if profile:
                profile.disable()
        finally:
            await project.close()
        if record.status != MissionStatus.COMPLETED or any(t.status != TaskStatus.DONE for t in record.tasks):
            print(f"mission {record.status.value}: {record.error}", file=sys.stderr)
            sys.exit(1)
        missing = [t.title for t in record.tasks if not (Path(tmp) / "out" / f"{t.title}.md").is_file()]
        if missing:
            print(f"files missing: {missing}", file=sys.stderr)
            sys.exit(1)
    return {"wall": wall, "model_wait": timed.seconds, "calls": timed.calls,
            "served": len(server.requests) - served_before, "server_busy": server.busy_seconds - busy_before}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds the fake model sleeps per completion")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=1, help="maxConcurrency of the project")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--profile", action="store_true", help="also print the top 25 functions (cProfile)")
    args = parser.parse_args()

    profile = cProfile.Profile() if args.profile else None
    with LoopbackOpenAI(reply, latency=args.latency) as server:
        runs = [asyncio.run(run_once(server, args.tasks, args.concurrency, profile)) for _ in range(args.repeat)]

    def median(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    wall, wait = median("wall"), median("model_wait")
    overhead = statistics.median(r["wall"] - r["model_wait"] for r in runs)
    calls = runs[0]["calls"]
    summary = {
        "tasks": args.tasks, "concurrency": args.concurrency, "latency_ms": args.latency * 1000,
        "model_calls": calls, "repeat": args.repeat,
        "wall_s": round(wall, 3), "model_wait_s": round(wait, 3),
        "artificial_latency_s": round(calls * args.latency, 3),
        "server_busy_s": round(median("server_busy"), 3),
        "overhead_s": round(overhead, 3),
        "overhead_per_task_ms": round(overhead / args.tasks * 1000, 1),
        "overhead_per_model_call_ms": round(overhead / calls * 1000, 1),
        "overhead_share": round(overhead / wall, 3),
        "overhead_to_model_wait": round(overhead / wait, 3),
    }
    if args.concurrency > 1:  # model calls overlap: wall - summed wait is no longer our overhead
        for key in ("overhead_s", "overhead_per_task_ms", "overhead_per_model_call_ms", "overhead_share",
                    "overhead_to_model_wait"):
            summary.pop(key)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"{args.tasks}-task mission of LLM agents, {calls} model calls ({calls // args.tasks} per task), "
              f"{args.latency * 1000:g} ms fake latency, maxConcurrency {args.concurrency}, median of {args.repeat}")
        print(f"  total wall time          {wall:8.3f} s")
        print(f"  waiting for the model    {wait:8.3f} s   (client side{', summed over overlapping calls' if args.concurrency > 1 else ''}; "
              f"artificial latency {calls * args.latency:.3f} s, fake server busy {summary['server_busy_s']:.3f} s)")
        if args.concurrency == 1:
            print(f"  our overhead             {overhead:8.3f} s   = {summary['overhead_per_task_ms']} ms per task, "
                  f"{summary['overhead_per_model_call_ms']} ms per model call")
            print(f"  overhead / wall          {summary['overhead_share']:8.1%}")
            print(f"  overhead / model wait    {summary['overhead_to_model_wait']:8.3f}")
    if profile:
        stats = pstats.Stats(profile)
        stats.sort_stats("cumulative").print_stats(25)
        stats.sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
