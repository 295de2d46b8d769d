"""Exact resume for function agents (issue 22): `ctx.step` / `ctx.astep` results are stored before the
agent goes on, replayed when a crashed attempt runs on, and a step the crash interrupted runs again only
when it is idempotent (otherwise the agent gets StepInterrupted and decides)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support import WAIT, kill_when, wait_for

import polpo_nb as polpo
from polpo_nb.spec import MissionStatus, TaskStatus

#: The agent of both processes: `expensive` then `fetch` (idempotent) then `deploy` (not idempotent);
#: each appends its name to ran.txt. In the child, the step named by argv[2] blocks (its name in
#: blocked.txt) until the file `release` exists, so the test kills it there.
AGENT = textwrap.dedent("""
    import asyncio, pathlib
    from polpo_nb import StepInterrupted
    
    def make(root, block=None):
        root = pathlib.Path(root)

        async def step_fn(name, value):
            with (root / "ran.txt").open("a") as fh:
                fh.write(name + "\\n")
            if name == block:
                (root / "blocked.txt").write_text(name)
                while not (root / "release").exists():
                    await asyncio.sleep(0.02)
            return value

        async def work(task, ctx):
            price = await ctx.astep("expensive", step_fn, "expensive", {"price": 21})
            page = await ctx.astep("fetch", step_fn, "fetch", "page", idempotent=True)
            try:
                deployed = await ctx.astep("deploy", step_fn, "deploy", "deployed")
            except StepInterrupted as exc:
                deployed = f"unknown ({exc.step})"
            return f"{price['price'] * 2} {page} {deployed}"
        return work
""")

CHILD = textwrap.dedent("""
    import sys, polpo_nb as polpo
    sys.path.insert(0, sys.argv[3])
    from steps_agent import make
    with polpo.Project(sys.argv[1]) as project:
        project.agent("w")(make(sys.argv[1], sys.argv[2]))
        project.execute(polpo.Mission("steps").task("work", assign_to="w")).wait()
""")


@pytest.mark.parametrize("block", ["fetch", "deploy"])
def test_a_crashed_function_agent_replays_its_steps_and_reports_the_interrupted_one(project_dir: Path, tmp_path: Path,
                                                                                      block: str):
    (tmp_path / "steps_agent.py").write_text(AGENT)
    (tmp_path / "child.py").write_text(CHILD)
    child = subprocess.Popen([sys.executable, str(tmp_path / "child.py"), str(project_dir), block, str(tmp_path)])
    kill_when(child, (project_dir / "blocked.txt").exists)
    assert (project_dir / "ran.txt").read_text().split() == ["expensive", "fetch"] + (["deploy"] if block == "deploy" else [])

    sys.path.insert(0, str(tmp_path))
    try:
        from steps_agent import make
    finally:
        sys.path.remove(str(tmp_path))
    (project_dir / "release").write_text("")
    with polpo.Project(project_dir) as project:
        project.agent("w")(make(project_dir))
        record = project.resume("steps").wait(WAIT)
        task = record.tasks[0]
        attempts = project.attempts(task.id)

    assert record.status == MissionStatus.COMPLETED and task.status == TaskStatus.DONE
    ran = (project_dir / "ran.txt").read_text().split()
    if block == "fetch":  # idempotent: it runs again; the completed step before it does not
        assert ran == ["expensive", "fetch", "fetch", "deploy"]
        assert task.result.content == "42 page deployed"
    else:  # not idempotent: not run again, the agent is told and decides
        assert ran == ["expensive", "fetch", "deploy"]
        assert task.result.content == "42 page unknown (deploy)"
    assert [a.status for a in attempts] == ["completed"]  # one attempt across the crash
    # the agent was spawned twice for that one attempt: the second time says it runs on
    with polpo.Project(project_dir) as project:
        spawned = [e.data for e in project.replay(0, "agent:spawned")]
    assert [(d["attempt"], d.get("resumed")) for d in spawned] == [(1, False), (1, True)]


def test_an_interrupted_function_agent_runs_on_from_its_steps_as_after_a_crash(project: polpo.Project,
                                                                                  project_dir: Path, tmp_path: Path):
    """Ctrl-C (`polpo run`) or `interrupt_mission` keeps what a kill -9 keeps: the resumed attempt ran its
    completed steps again (the interrupt ended it `interrupted`, which only `crashed` was not)."""
    (tmp_path / "steps_agent.py").write_text(AGENT)
    sys.path.insert(0, str(tmp_path))
    try:
        from steps_agent import make
    finally:
        sys.path.remove(str(tmp_path))
    project.agent("w")(make(project_dir, "fetch"))
    project.execute(polpo.Mission("steps").task("work", assign_to="w"))
    wait_for((project_dir / "blocked.txt").exists)
    assert project.interrupt_mission("steps").pause_reason == "interrupted"
    (project_dir / "release").write_text("")
    record = project.resume("steps").wait(WAIT)
    assert record.status == MissionStatus.COMPLETED and record.tasks[0].result.content == "42 page deployed"
    assert (project_dir / "ran.txt").read_text().split() == ["expensive", "fetch", "fetch", "deploy"]
    assert [a.status for a in project.attempts(record.tasks[0].id)] == ["completed"]  # one attempt across it


def test_steps_without_a_crash_run_once_and_answer_json(project: polpo.Project):
    calls: list[str] = []

    def work(task, ctx):
        first = ctx.step("pair", lambda: calls.append("pair") or (1, 2))
        again = ctx.step("pair", lambda: calls.append("pair") or (3, 4))  # a second step of that name
        with pytest.raises(TypeError, match="step 'bad' returned object, which cannot be stored"):
            ctx.step("bad", object)
        return {"content": f"{first} {again}"}

    project.agent("w")(work)
    record = project.execute(polpo.Mission("plain").task("t", assign_to="w")).wait(WAIT)
    assert record.tasks[0].result.content == "[1, 2] [3, 4]"  # the JSON value, as a replay answers it
    assert calls == ["pair", "pair"]


def test_a_sync_step_in_an_async_agent_is_refused_in_the_users_terms(project: polpo.Project):
    async def work(task, ctx):
        try:
            ctx.step("x", lambda: 1)
        except RuntimeError as exc:
            return str(exc)
        return "no error"

    project.agent("w")(work)
    record = project.execute(polpo.Mission("mixed").task("t", assign_to="w")).wait(WAIT)
    assert "in an async agent use `await ctx.astep()`" in record.tasks[0].result.content


def test_step_interrupted_says_what_the_user_must_know():
    exc = polpo.StepInterrupted("deploy")
    assert exc.step == "deploy" and "interrupted by a crash" in exc.message and "not idempotent" in exc.message
