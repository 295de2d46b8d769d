"""The demo (the `make demo` job) and the `polpo` command, run as a user would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from polpo_nb import demo


def test_demo_runs_the_whole_story(tmp_path: Path, capsys):
    assert demo.main(["--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "task:fix" in out and "gate:passed" in out and "checkpoint:waiting" in out
    assert "awaiting_approval -> done" in out
    assert "mission release-notes: completed" in out
    assert (tmp_path / "release-notes.md").read_text().count("- ") == 3


def test_polpo_run_executes_a_mission_file_with_handler_agents(tmp_path: Path):
    (tmp_path / "team.py").write_text("def shout(task, ctx):\n    return task.title.upper()\n")
    mission = {
        "name": "from-file",
        "tasks": [{"title": "hello", "assignTo": "shouter"}, {"title": "world", "assignTo": "shouter", "dependsOn": ["hello"]}],
        "team": {"name": "t", "agents": [{"name": "shouter", "handler": "team:shout"}]},
    }
    (tmp_path / "mission.json").write_text(json.dumps(mission))
    out = subprocess.run([sys.executable, "-m", "polpo_nb.cli", "run", "mission.json"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "mission from-file: completed" in out.stdout
    status = subprocess.run([sys.executable, "-m", "polpo_nb.cli", "status"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert "from-file" in status.stdout and "2/2 done" in status.stdout


def test_polpo_run_reports_an_invalid_file_without_traceback(tmp_path: Path):
    (tmp_path / "bad.yaml").write_text("name: x\ntasks:\n  - title: a\n    assignTo: w\n    dependsOn: [nope]\n")
    out = subprocess.run([sys.executable, "-m", "polpo_nb.cli", "run", "bad.yaml"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "tasks.0.dependsOn.0: unknown task 'nope'" in out.stderr and "Traceback" not in out.stderr
