"""A mission edited while it runs: the run goes on with the edit, from this process or another one
(another kernel, `polpo serve`, the dashboard), and never writes its old copy back over it."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from support import WAIT, wait_for
from test_budget import _chain, _config, hundred_tokens, two_turns

import polpo_nb as polpo
from polpo_nb.spec import MissionStatus
from polpo_nb.testing import LoopbackOpenAI


def _held(project: polpo.Project, **fields) -> tuple[threading.Event, polpo.RunHandle]:
    """A one-task mission `m` whose agent waits for the event returned."""
    release = threading.Event()
    project.agent("w")(lambda task, ctx: release.wait(WAIT) and "ok")
    return release, project.execute(polpo.Mission("m", prompt="old prompt", **fields).task("a", assign_to="w"))


def test_an_edit_from_another_process_outlives_the_run(project_dir):
    """The run's end wrote its own copy of the mission over the stored one: the other process's prompt,
    schedule and budget were gone without a word."""
    with polpo.Project(project_dir) as owner, polpo.Project(project_dir) as other:
        release, run = _held(owner)
        wait_for(lambda: owner.get_mission("m").tasks[0].status.value == "in_progress")
        other.update_mission("m", {"prompt": "new prompt", "schedule": "0 9 * * *", "budget": {"maxTokens": 5000}})
        release.set()
        assert run.wait(WAIT).status == MissionStatus.COMPLETED
        stored = other.get_mission("m")
        assert (stored.prompt, stored.schedule, stored.budget.max_tokens) == ("new prompt", "0 9 * * *", 5000)
        assert stored.next_run_at is not None and stored.execution_count == 1


def test_a_budget_raised_from_another_process_lets_the_mission_resume(project_dir):
    """The resume (routed to the process that runs the mission) was refused on the run's old budget."""
    with LoopbackOpenAI(two_turns, usage=hundred_tokens) as server, \
            polpo.Project(project_dir, config=_config(server)) as owner, \
            polpo.Project(project_dir, config=_config(server)) as other:
        assert owner.execute(_chain({"maxTokens": 300})).wait(WAIT).pause_reason == "budget"
        other.update_mission("budgeted", {"budget": {"maxTokens": 1000}})
        other.resume("budgeted")
        wait_for(lambda: owner.get_mission("budgeted").status == MissionStatus.COMPLETED)
        assert len(server.requests) == 7


def _soon(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def test_a_deadline_moved_later_while_the_mission_runs_is_the_one_kept(project):
    """The run's timer kept the deadline the run started with: the mission failed at the old time."""
    release, run = _held(project, deadline=datetime.now(UTC) + timedelta(seconds=1))
    project.update_mission("m", {"deadline": _soon(3600)})
    time.sleep(1.5)  # past the old deadline
    release.set()
    record = run.wait(WAIT)
    assert (record.status, record.error) == (MissionStatus.COMPLETED, None)


def test_a_deadline_brought_forward_while_the_mission_runs_fails_it_then(project):
    release, run = _held(project, deadline=datetime.now(UTC) + timedelta(hours=1))
    project.update_mission("m", {"deadline": _soon(0.5)})
    record = run.wait(WAIT)
    release.set()
    assert (record.status, record.error) == (MissionStatus.FAILED, "deadline")


def test_a_deadline_removed_from_another_process_while_paused_no_longer_fails_the_mission(project_dir):
    with polpo.Project(project_dir) as owner, polpo.Project(project_dir) as other:
        owner.agent("w")(lambda task, ctx: "ok")
        mission = (polpo.Mission("m", deadline=datetime.now(UTC) + timedelta(seconds=1)).task("a", assign_to="w")
                   .task("b", assign_to="w", depends_on=["a"]).checkpoint("review", after=["a"]))
        assert owner.execute(mission).wait(WAIT).pause_reason == "checkpoint"
        other.update_mission("m", {"deadline": None})
        time.sleep(1.5)  # past the old deadline
        assert owner.get_mission("m").status == MissionStatus.PAUSED
        assert owner.resume("m").wait(WAIT).status == MissionStatus.COMPLETED
