"""`.polpo/config.json` edited while a project is open takes effect at its next use, without a restart."""

from __future__ import annotations

import contextlib
import json
import threading
from pathlib import Path

import pytest
from chat_script import StreamScript, say

import polpo_nb as polpo
from polpo_nb.errors import SpecError


def _write_config(project_dir: Path, config: dict) -> None:
    path = project_dir / ".polpo" / "config.json"
    path.write_text(json.dumps(config))


def test_orchestrator_model_set_in_the_file_is_used_by_the_open_project(project, project_dir: Path):
    assert project.aio.config.orchestrator_model is None
    project.models.register("scripted", StreamScript(say("hello from the new model"), name="scripted").model)
    _write_config(project_dir, {"orchestratorModel": "scripted"})
    reply = project.chat("hi")
    assert reply.content == "hello from the new model" and reply.model == "scripted"
    assert project.aio.config.orchestrator_model == "scripted"


def test_max_concurrency_changed_in_the_file_limits_the_next_run(project, project_dir: Path):
    running, peak, lock = [0], [0], threading.Lock()
    both_could_run = threading.Barrier(2, timeout=2)

    @project.agent("w")
    def work(task, ctx):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        # with room for two, both meet here; with room for one, the barrier breaks and the task goes on
        with contextlib.suppress(threading.BrokenBarrierError):
            both_could_run.wait()
        with lock:
            running[0] -= 1
        return "ok"

    _write_config(project_dir, {"maxConcurrency": 1})
    mission = polpo.Mission("m").task("a", assign_to="w").task("b", assign_to="w")
    assert project.execute(mission).wait().status.value == "completed"
    assert peak[0] == 1 and project.aio.config.max_concurrency == 1


def test_an_invalid_edit_keeps_the_last_good_config(project, project_dir: Path):
    _write_config(project_dir, {"judgeReviewers": 3})
    assert project.aio.config.judge_reviewers == 3
    (project_dir / ".polpo" / "config.json").write_text('{"judgeReviewers": ')
    assert project.aio.config.judge_reviewers == 3
    _write_config(project_dir, {"judgeReviewers": 5})
    assert project.aio.config.judge_reviewers == 5


@pytest.mark.parametrize("body", [b'{"judgeReviewers": "caf\xe9"}', b'{"x": ' + b"[" * 5000 + b"]" * 5000 + b"}"])
def test_an_edit_that_cannot_be_read_keeps_the_last_good_config_too(project, project_dir: Path, body: bytes):
    """Not UTF-8, or nested thousands deep: an invalid file like any other (it raised out of the config,
    into whatever read it: the run about to start, the chat), not a crash."""
    _write_config(project_dir, {"judgeReviewers": 3})
    assert project.aio.config.judge_reviewers == 3
    (project_dir / ".polpo" / "config.json").write_bytes(body)
    assert project.aio.config.judge_reviewers == 3
    with pytest.raises(SpecError, match="config.json: (not UTF-8 text|nested too deeply to read)"):
        polpo.Project(project_dir)


def test_keys_read_at_open_stay_until_the_next_open(project, project_dir: Path):
    _write_config(project_dir, {"project": "renamed"})
    assert project.aio.config.project is None and project.id == project_dir.name
    with polpo.Project(project_dir) as again:
        assert again.aio.config.project == "renamed"


async def test_a_server_default_gives_way_to_the_file_edited_later(project_dir: Path):
    (project_dir / ".polpo").mkdir()
    project = await polpo.AsyncProject.open(project_dir, config_defaults={"orchestratorModel": "server-default"})
    try:
        assert project.config.orchestrator_model == "server-default"
        _write_config(project_dir, {"orchestratorModel": "mine"})
        assert project.config.orchestrator_model == "mine"
    finally:
        await project.close()


def test_python_settings_win_over_the_file_in_either_spelling(project_dir: Path):
    (project_dir / ".polpo").mkdir()
    _write_config(project_dir, {"maxConcurrency": 2, "judgeReviewers": 3})
    with polpo.Project(project_dir, config={"max_concurrency": 4}) as project:
        assert project.aio.config.max_concurrency == 4 and project.aio.config.judge_reviewers == 3


def test_a_setting_given_twice_in_the_file_is_refused_not_overwritten(project_dir: Path):
    (project_dir / ".polpo").mkdir()
    path = project_dir / ".polpo" / "config.json"
    path.write_text('{"maxConcurrency": 2, "judgeReviewers": 3, "maxConcurrency": 8}')
    with pytest.raises(SpecError) as info:
        polpo.Project(project_dir)
    assert info.value.errors == [{"loc": [str(path)], "msg": "duplicate key 'maxConcurrency' in one object"}]


def test_a_recent_look_stands_for_a_new_one_only_when_the_caller_allows_it(tmp_path: Path):
    """`current(within=s)`: a task start (thousands a second) reuses a look that recent instead of two
    stats; every other caller looks at the file each time."""
    from polpo_nb.project.config import ConfigFile

    (tmp_path / ".polpo").mkdir()
    _write_config(tmp_path, {"maxConcurrency": 3})
    config = ConfigFile(tmp_path)  # its first look: now
    _write_config(tmp_path, {"maxConcurrency": 5})
    assert config.current(within=3600).max_concurrency == 3  # looked at less than an hour ago: not again
    assert config.current().max_concurrency == 5  # a caller without `within` sees the edit at once
    _write_config(tmp_path, {"maxConcurrency": 7})
    assert config.current(within=3600).max_concurrency == 5  # the window runs from the last look
    assert config.current(within=1e-9).max_concurrency == 7  # past the window: looked at again
