"""Housekeeping keeps the store from growing without end: old events go, and so do the durable steps of
attempts that ended (each LLM attempt stores its whole conversation as steps), while the steps an
attempt may still run on (running, or ended by a crash) stay."""

from __future__ import annotations

import functools

import polpo_nb as polpo
from polpo_nb.project.background import prune
from polpo_nb.spec import MissionStatus

WAIT = 30  # seconds: a hang is a failure, never a timing assertion


def _stepping(task, ctx):
    first = ctx.step("first", lambda: {"n": 1})
    return f"{first['n'] + ctx.step('second', lambda: 1)}"


def _steps(project, task_id: str) -> int:
    with project.aio.store.read() as tx:
        return len(tx.steps(task_id, 1))


def _prune(project, keep: int = 10_000) -> None:
    project._thread.call(project.aio.journal.write(functools.partial(prune, keep)))


def test_the_steps_of_an_ended_attempt_go_and_a_crashed_ones_stay(project):
    project.agent("w")(_stepping)
    record = project.execute(polpo.Mission("steps").task("a", assign_to="w").task("b", assign_to="w")).wait(WAIT)
    assert record.status == MissionStatus.COMPLETED and record.tasks[0].result.content == "2"
    a, b = (t.id for t in record.tasks)
    stored = _steps(project, b)
    assert _steps(project, a) == stored >= 2  # each ctx.step stored
    project._thread.call(project.aio.journal.write(lambda tx, emit: tx.finish_attempt(b, 1, "crashed", None)))
    _prune(project)
    assert _steps(project, a) == 0
    assert _steps(project, b) == stored  # a crash ended it: a resume may run on from these


def test_events_beyond_the_retention_go(project):
    project.agent("w")(_stepping)
    project.execute(polpo.Mission("events").task("a", assign_to="w")).wait(WAIT)
    last = project.replay(0)[-1].id
    _prune(project, keep=3)
    with project.aio.store.read() as tx:  # the store's rows (a replay may come from the bus's ring)
        assert [e.id for e in tx.events_after(0)] == [last - 2, last - 1, last]


def test_a_short_lived_process_leaves_no_steps_of_its_ended_attempts(project_dir):
    """Housekeeping first runs after minutes: `polpo run` and short scripts never pruned, and every run
    of an LLM agent left its whole conversation in state.db. Closing the project prunes them; the steps
    of an attempt the close interrupts stay, for the resume to run on from."""
    with polpo.Project(project_dir) as project:
        project.agent("w")(_stepping)
        record = project.execute(polpo.Mission("steps").task("a", assign_to="w")).wait(WAIT)
        task = record.tasks[0].id
        assert _steps(project, task) >= 2
    with polpo.Project(project_dir) as again:
        assert _steps(again, task) == 0
