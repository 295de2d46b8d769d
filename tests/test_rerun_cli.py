"""`polpo rerun NAME --from TASK` (issue 22) through the installed entry point, and `%polpo rerun`."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from cli_project import mission, polpo, start, write_project
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from support import WAIT, wait_for

import polpo_nb as polpo_lib
from polpo_nb.spec import MissionStatus

CHAIN = ["a", "b", "c", "d", "e"]


def _attempts(root: Path) -> dict[str, int]:
    with polpo_lib.Project(root) as project:
        return {t.title: len(project.attempts(t.id)) for t in project.get_mission("m").tasks}


def test_rerun_runs_the_tail_again_live_and_exits_0(tmp_path: Path):
    root = write_project(tmp_path / "p", {"m.json": mission("m", "shout", CHAIN)})
    polpo("run", "m.json", cwd=root, check=0)
    out = polpo("rerun", "m", "--from", "c", cwd=root, check=0)
    assert out.stderr == ""
    assert "mission:rerun" in out.stdout and "from 'c': c, d, e" in out.stdout
    assert out.stdout.endswith("mission m: completed\n")
    assert _attempts(root) == {"a": 1, "b": 1, "c": 2, "d": 2, "e": 2}


def test_rerun_while_the_mission_runs_is_refused_in_one_line_exit_4(tmp_path: Path):
    root = write_project(tmp_path / "p", {"m.json": mission("m", "gated", ["a", "b"])})
    running = start("run", "m.json", cwd=root)
    try:
        wait_for(lambda: (root / "started-a").exists())
        out = polpo("rerun", "m", "--from", "a", cwd=root, check=4)
        assert out.stderr == "polpo: Mission 'm' is running: re-run it from 'a' once it has finished, or abort it first\n"
        assert out.stdout == ""
    finally:
        (root / "go").write_text("")
        assert running.wait(WAIT) == 0
    assert _attempts(root) == {"a": 1, "b": 1}


def test_rerun_of_an_unknown_task_is_bad_input_exit_2(tmp_path: Path):
    root = write_project(tmp_path / "p", {"m.json": mission("m", "shout", ["a"])})
    polpo("run", "m.json", cwd=root, check=0)
    assert polpo("rerun", "m", "--from", "zz", cwd=root, check=2).stderr == "polpo: Mission 'm' has no task 'zz'\n"
    assert polpo("rerun", "m", cwd=root, check=2).stderr.endswith("Missing option '--from'.\n")


# -- %polpo rerun ---------------------------------------------------------------------------------------

@pytest.fixture
def shell(project):
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "polpo_nb")
    saved = dict(ip.user_ns)
    ip.user_ns["project"] = project
    yield ip
    ip.user_ns.clear()
    ip.user_ns.update(saved)


def test_the_rerun_magic_returns_the_run_of_the_tail(shell, project):
    calls: dict[str, int] = {}

    @project.agent("w")
    def work(task, ctx):
        calls[task.title] = calls.get(task.title, 0) + 1
        return "ok"
    spec = polpo_lib.Mission("notes")
    for i, title in enumerate(CHAIN):
        spec.task(title, assign_to="w", depends_on=[CHAIN[i - 1]] if i else [])
    project.execute(spec).wait(WAIT)
    run = shell.run_line_magic("polpo", "rerun notes --from d")
    assert run.wait(WAIT).status == MissionStatus.COMPLETED
    assert calls == {"a": 1, "b": 1, "c": 1, "d": 2, "e": 2}


def test_the_rerun_magic_says_what_is_missing_or_refused_in_one_line(shell, project, capsys):
    release = threading.Event()
    project.agent("w")(lambda task, ctx: release.wait(WAIT) and "ok")
    run = project.execute(polpo_lib.Mission("busy").task("a", assign_to="w"))
    with pytest.raises(UsageError) as info:  # the cell fails with the message alone (no traceback in a notebook)
        shell.run_line_magic("polpo", "rerun busy")
    assert str(info.value) == "polpo rerun: name the task to re-run from: --from TASK"
    with pytest.raises(UsageError) as info:
        shell.run_line_magic("polpo", "rerun busy --from a")
    assert str(info.value) == ("polpo rerun: Mission 'busy' is running: re-run it from 'a' once it has finished, "
                               "or abort it first")
    release.set()
    assert run.wait(WAIT).status == MissionStatus.COMPLETED
