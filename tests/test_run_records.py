"""Records handed back without reading the store again are the stored ones.

Saving a mission returns the record it wrote, `execute` runs that record, and `wait()` on a run of this
process returns the engine's last committed copies: each must equal what a fresh read of the store
gives, field for field, or a caller would see a record the store does not hold.
"""

from __future__ import annotations

import polpo_nb as polpo
from polpo_nb.spec import MissionStatus, TaskStatus

WAIT = 30  # seconds: a hang is a failure, never a timing assertion


def _mission() -> polpo.Mission:
    return (polpo.Mission("records", quality_threshold=2.5, data={"k": [1, 2]})
            .task("a", assign_to="w", max_retries=0)
            .task("b", assign_to="w", depends_on=["a"], priority=3.0)
            .task("c", assign_to="w", depends_on=["a"], side_effects=False))


def test_a_saved_mission_is_the_record_the_store_reads_back(project):
    project.agent("w")(lambda task, ctx: "done")
    saved = project.save_mission(_mission())
    assert saved == project.get_mission(saved.id)
    assert saved.task_count == 3 and [t.seq for t in saved.tasks] == sorted(t.seq for t in saved.tasks)


def test_wait_returns_what_the_store_holds_once_the_run_is_over(project):
    project.agent("w")(lambda task, ctx: "done")
    waited = project.execute(_mission()).wait(WAIT)
    stored = project.get_mission(waited.id)
    assert waited.status == MissionStatus.COMPLETED
    assert all(t.status == TaskStatus.DONE for t in waited.tasks)
    assert waited == stored


def test_a_failed_run_and_a_standalone_task_too(project):
    def flaky(task, ctx):
        raise RuntimeError("no")
    project.agent("w")(flaky)
    waited = project.execute(_mission()).wait(WAIT)
    assert waited.status == MissionStatus.FAILED
    assert waited == project.get_mission(waited.id)
    task = project.create_task(polpo.Task(title="alone", assign_to="w", max_retries=1))
    waited_task = project.execute_task(task.id).wait(WAIT)
    assert waited_task.status == TaskStatus.FAILED and waited_task.retries == 1
    assert waited_task == project.get_task(task.id)
