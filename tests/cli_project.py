"""Helpers of the `polpo` command's tests: the real entry point, and a project of function agents
whose pace the test controls (agents wait for a file the test writes: no sleeps, no timing)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from support import WAIT

#: The console script installed in the virtualenv (what a user runs), not `python -m`.
POLPO = str(Path(sys.executable).parent / "polpo")

TEAM = textwrap.dedent('''
    import asyncio


    def shout(task, ctx):
        ctx.output(f"shouting {task.title}")
        return task.title.upper()


    def flaky(task, ctx):
        if not (ctx.project_dir / "fixed").exists():
            raise RuntimeError("flaky agent: not fixed yet")
        return "fine now"


    async def gated(task, ctx):
        """Says it started, then waits until the test writes `go`."""
        (ctx.project_dir / f"started-{task.title}").write_text("")
        while not (ctx.project_dir / "go").exists():
            await asyncio.sleep(0.01)
        ctx.output(f"{task.title} went")
        return f"{task.title} done"


    async def stubborn(task, ctx):
        """Like gated, but when cancelled it says so and finishes its wait first (an agent slow to stop)."""
        (ctx.project_dir / f"started-{task.title}").write_text("")
        try:
            while not (ctx.project_dir / "go").exists():
                await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            (ctx.project_dir / f"cancelled-{task.title}").write_text("")
            while not (ctx.project_dir / "go").exists():
                await asyncio.sleep(0.01)
            raise
        return "done"
''')


def mission(name: str, agent: str, titles: list[str], *, chain: bool = True, **extra: Any) -> dict[str, Any]:
    tasks = [{"title": t, "assignTo": "worker", **({"dependsOn": [titles[i - 1]]} if chain and i else {})}
             for i, t in enumerate(titles)]
    return {"name": name, "tasks": tasks, **extra,
            "team": {"name": "team", "agents": [{"name": "worker", "handler": f"team:{agent}"}]}}


def write_project(root: Path, missions: dict[str, dict[str, Any]]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "team.py").write_text(TEAM)
    for file, spec in missions.items():
        (root / file).write_text(json.dumps(spec))
    return root


def polpo(*args: str, cwd: Path, check: int | None = None) -> subprocess.CompletedProcess[str]:
    """Run `polpo ARGS` in `cwd` to its end (the timeout only catches a hang)."""
    out = subprocess.run([POLPO, *args], cwd=cwd, capture_output=True, text=True, timeout=WAIT * 4,
                         stdin=subprocess.DEVNULL)
    if check is not None:
        assert out.returncode == check, (out.returncode, out.stdout, out.stderr)
    return out


def start(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([POLPO, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)


def as_json(*args: str, cwd: Path) -> Any:
    return json.loads(polpo(*args, "--json", cwd=cwd, check=0).stdout)
