"""A process killed with SIGKILL mid-mission: finished work survives, `resume` completes the rest."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from support import kill_when

import polpo_nb as polpo
from polpo_nb.spec import MissionStatus, TaskStatus

CHILD = textwrap.dedent("""
    import pathlib, sys, time, polpo_nb as polpo
    root, marker = sys.argv[1], pathlib.Path(sys.argv[2])
    project = polpo.Project(root)

    @project.agent("w")
    def work(task, ctx):
        if task.title == "slow":
            marker.write_text("started")
            time.sleep(600)
        return f"child did {task.title}"

    mission = (polpo.Mission("crashy").task("a", assign_to="w").task("b", assign_to="w", depends_on=["a"])
               .task("slow", assign_to="w", depends_on=["b"]).task("last", assign_to="w", depends_on=["slow"]))
    project.execute(mission).wait()
""")


def test_sigkill_mid_mission_then_resume_completes_with_nothing_lost(project_dir: Path, tmp_path: Path):
    script, marker = tmp_path / "child.py", tmp_path / "marker"
    script.write_text(CHILD)
    child = subprocess.Popen([sys.executable, str(script), str(project_dir), str(marker)])
    kill_when(child, marker.exists, "the slow task", timeout=60)

    with polpo.Project(project_dir) as project:
        project.agent("w")(lambda task, ctx: f"parent did {task.title}")
        before = {t.title: t for t in project.get_mission("crashy").tasks}
        assert before["a"].status == before["b"].status == TaskStatus.DONE
        assert before["slow"].status == TaskStatus.PENDING  # requeued on open, no retry burnt
        assert before["slow"].retries == 0
        assert [m.name for m in project.resumable_missions()] == ["crashy"]

        record = project.resume("crashy").wait(60)
        by = {t.title: t for t in record.tasks}
        assert record.status == MissionStatus.COMPLETED
        assert by["a"].result.content == "child did a" and by["b"].result.content == "child did b"
        assert by["slow"].result.content == "parent did slow"
        assert [a.status for a in project.attempts(by["a"].id)] == ["completed"]
        assert [a.status for a in project.attempts(by["slow"].id)] == ["crashed", "completed"]


def test_a_resume_here_that_cannot_play_the_agents_is_refused_and_leaves_the_run_resumable(project_dir: Path,
                                                                                              tmp_path: Path):
    """The agent was a function of the killed process: a resume from a process without it failed every
    task left, and the mission with them. It is refused up front, as `execute` is, writing nothing: the
    mission stays resumable where the agent is (a notebook that registers it again)."""
    script, marker = tmp_path / "child.py", tmp_path / "marker"
    script.write_text(CHILD)
    child = subprocess.Popen([sys.executable, str(script), str(project_dir), str(marker)])
    kill_when(child, marker.exists, "the slow task", timeout=60)
    with polpo.Project(project_dir) as cli_like:
        try:
            cli_like.resume("crashy")
        except polpo.PolpoError as exc:
            assert "'w'" in exc.message
        else:
            raise AssertionError("the resume was not refused")
        assert [t.status for t in cli_like.get_mission("crashy").tasks][2:] == [TaskStatus.PENDING] * 2
        assert [m.name for m in cli_like.resumable_missions()] == ["crashy"]
    with polpo.Project(project_dir) as notebook:
        notebook.agent("w")(lambda task, ctx: "done here")
        assert notebook.resume("crashy").wait(60).status == MissionStatus.COMPLETED
