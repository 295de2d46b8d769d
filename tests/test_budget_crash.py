"""A process killed with SIGKILL mid-mission: the spend it committed stays exact (nothing lost, nothing
counted twice), and `resume` in another process goes on against the same budget, not a fresh one."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from support import kill_when

import polpo_nb as polpo
from polpo_nb.spec import MissionStatus, TaskStatus
from polpo_nb.testing import LoopbackOpenAI, last_message, text, tool_call

CHILD = textwrap.dedent("""
    import json, sys, polpo_nb as polpo
    root, config = sys.argv[1], json.loads(sys.argv[2])
    project = polpo.Project(root, config=config)
    mission = polpo.Mission.model_validate({
        "name": "crashy", "budget": {"maxTokens": 300},
        "tasks": [{"title": "a", "assignTo": "w"}, {"title": "b", "assignTo": "w", "dependsOn": ["a"]}],
        "team": {"agents": [{"name": "w", "model": "local:w"}]},
    })
    project.execute(mission).wait()
""")


def test_sigkill_mid_mission_keeps_the_spend_exact_and_resume_keeps_the_budget(project_dir: Path, tmp_path: Path):
    hold = threading.Event()
    held = threading.Event()
    answered: list[int] = []  # the usage of each request the server answered (reported and sent)

    calls: list[dict] = []

    def reply(body: dict) -> dict:
        calls.append(body)
        if len(calls) == 3:  # a took two calls; this is b's first
            held.set()
            hold.wait(60)  # b's first call hangs until the child is dead
            raise RuntimeError("never answered")
        return text("done") if last_message(body)["role"] == "tool" else tool_call("list_files", {"path": "."})

    def usage(body: dict, message: dict) -> dict:
        answered.append(100)
        return {"prompt_tokens": 70, "completion_tokens": 30, "total_tokens": 100}

    script = tmp_path / "child.py"
    script.write_text(CHILD)
    with LoopbackOpenAI(reply, usage=usage) as server:
        config = {"providers": {"local": {"baseUrl": server.base_url}}}
        child = subprocess.Popen([sys.executable, str(script), str(project_dir), json.dumps(config)])
        try:
            kill_when(child, held.is_set, "task b", timeout=60)
        finally:
            hold.set()
        assert len(answered) == 2  # a's two calls; b's call died with the child

        with polpo.Project(project_dir, config=config) as project:
            before = {t.title: t for t in project.get_mission("crashy").tasks}
            assert before["a"].status == TaskStatus.DONE and before["b"].status == TaskStatus.PENDING
            assert project.mission_usage("crashy").total.total_tokens == 200  # a's, once

            # 200 of 300 spent before the crash: b's first call fits, its second does not
            record = project.resume("crashy").wait(60)
            assert record.status == MissionStatus.PAUSED and record.pause_reason == "budget"
            assert len(answered) == 3
            usage_now = project.mission_usage("crashy")
            assert usage_now.total.total_tokens == 300 == sum(answered)
            assert [a.status for a in project.attempts(before["b"].id)] == ["crashed", "budget"]

            project.update_mission("crashy", {"budget": {"maxTokens": 1000}})
            record = project.resume("crashy").wait(60)
            assert record.status == MissionStatus.COMPLETED
            assert project.mission_usage("crashy").total.total_tokens == sum(answered) == 500
