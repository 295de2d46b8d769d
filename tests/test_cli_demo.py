"""The demo (the `make demo-script` job), and `python -m polpo_nb.cli`, run as a user would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from support import WAIT

from polpo_nb import demo


def test_demo_runs_the_whole_story(tmp_path: Path, capsys):
    assert demo.main(["--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "task:fix" in out and "gate:passed" in out and "checkpoint:waiting" in out
    assert "wrote 1 items" in out and "wrote 3 items" in out  # what the writer said with ctx.output()
    assert "awaiting_approval -> done" in out
    assert "mission release-notes: completed" in out
    assert (tmp_path / "release-notes.md").read_text().count("- ") == 3


def test_python_dash_m_runs_the_command(tmp_path: Path):
    (tmp_path / "team.py").write_text("def shout(task, ctx):\n    return task.title.upper()\n")
    mission = {
        "name": "from-file",
        "tasks": [{"title": "hello", "assignTo": "shouter"}, {"title": "world", "assignTo": "shouter", "dependsOn": ["hello"]}],
        "team": {"name": "t", "agents": [{"name": "shouter", "handler": "team:shout"}]},
    }
    (tmp_path / "mission.json").write_text(json.dumps(mission))
    out = subprocess.run([sys.executable, "-m", "polpo_nb.cli", "run", "mission.json"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=WAIT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.endswith("mission from-file: completed\n")
