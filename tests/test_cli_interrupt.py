"""Ctrl-C and SIGTERM during `polpo run`: the mission pauses (`interrupted`), resumable anywhere."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from pathlib import Path

import pytest
from cli_project import as_json, mission, polpo, start, write_project
from support import WAIT, wait_for

import polpo_nb as polpo_lib
from polpo_nb.spec import MissionStatus


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_one_interrupt_pauses_the_mission_and_another_process_resumes_it(tmp_path: Path, signum: int):
    root = write_project(tmp_path / "p", {"m.json": mission("waits", "gated", ["a", "b"])})
    proc = start("run", "m.json", cwd=root)
    wait_for(lambda: (root / "started-a").exists())
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=WAIT)

    assert proc.returncode == 130
    assert err.splitlines() == ["polpo: interrupted: mission 'waits' paused; `polpo resume waits` continues it"]
    shown = as_json("show", "waits", cwd=root)
    assert (shown["status"], shown["pauseReason"]) == ("paused", "interrupted")
    assert [t["status"] for t in shown["tasks"]] == ["pending", "pending"]

    (root / "go").write_text("")
    resumed = polpo("resume", "waits", cwd=root, check=0)
    assert "mission waits: completed" in resumed.stdout
    attempts = as_json("logs", "a", cwd=root)
    assert [a["status"] for a in attempts] == ["interrupted", "completed"]


def test_a_second_interrupt_exits_at_once_and_releases_the_lease(tmp_path: Path):
    root = write_project(tmp_path / "p", {"m.json": mission("stuck", "stubborn", ["a"])})
    proc = start("run", "m.json", cwd=root)
    wait_for(lambda: (root / "started-a").exists())
    proc.send_signal(signal.SIGINT)
    wait_for(lambda: (root / "cancelled-a").exists())  # the clean stop is under way, held up by the agent
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=WAIT)

    assert proc.returncode == 130
    assert "stopped at once; `polpo resume stuck` continues it" in err and "Traceback" not in err
    with sqlite3.connect(root / ".polpo" / "state.db") as db:
        assert db.execute("SELECT lease_until FROM runs").fetchall() == [(0.0,)]
    (root / "go").write_text("")
    resumed = polpo("resume", "stuck", cwd=root, check=0)
    assert "mission stuck: completed" in resumed.stdout


def test_interrupt_mission_pauses_a_run_and_any_project_resumes_it_at_once(project_dir: Path):
    gate = project_dir / "go"
    with polpo_lib.Project(project_dir) as first:
        @first.agent("gated")
        async def gated(task, ctx):
            (ctx.project_dir / f"started-{task.title}").write_text("")
            while not gate.exists():
                await asyncio.sleep(0.01)
            return "ok"

        first.execute(polpo_lib.Mission("m").task("a", assign_to="gated").task("b", assign_to="gated",
                                                                                depends_on=["a"]))
        wait_for(lambda: (project_dir / "started-a").exists())
        paused = first.interrupt_mission("m")
        assert (paused.status, paused.pause_reason) == (MissionStatus.PAUSED, "interrupted")
        assert [a.status for a in first.attempts(paused.tasks[0].id)] == ["interrupted"]

        with polpo_lib.Project(project_dir) as second:  # another owner, while the first is still open
            second.agent("gated")(gated)
            gate.write_text("")
            record = second.resume("m").wait(timeout=WAIT)
            assert record.status == MissionStatus.COMPLETED
            assert [t.retries for t in record.tasks] == [0, 0]
