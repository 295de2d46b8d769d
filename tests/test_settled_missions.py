"""A settled mission's status follows its tasks when one of them changes after the run: a reassessment
that fails a task of a completed mission, a rejection. It said `completed` with every task failed, and
`resume --retry-failed` was refused because the mission "is completed"."""

from __future__ import annotations

import polpo_nb as polpo
from polpo_nb.spec import MissionStatus, TaskStatus

WAIT = 30


def _task(record, title):
    return next(t for t in record.tasks if t.title == title)


def test_a_completed_mission_whose_task_fails_its_reassessment_is_failed_and_can_be_retried(project, project_dir):
    (project_dir / "notes.md").write_text("notes")
    project.agent("w")(lambda task, ctx: "ok")
    mission = (polpo.Mission("m").task("Check", assign_to="w", expectations=[{"type": "file_exists", "paths": ["notes.md"]}])
               .task("Pub", assign_to="w", side_effects=True))
    run = project.execute(mission)
    record = run.wait(WAIT)
    project.approve_task(_task(record, "Pub").id)
    assert project.get_mission("m").status == MissionStatus.COMPLETED

    (project_dir / "notes.md").unlink()
    assert project.reassess_task(_task(record, "Check").id).status == TaskStatus.FAILED
    failed = project.get_mission("m")
    assert failed.status == MissionStatus.FAILED and failed.error == "failed tasks: Check"

    assert project.reassess_task(_task(record, "Pub").id).status == TaskStatus.AWAITING_APPROVAL
    project.reject_task(_task(record, "Pub").id, "not now")
    assert project.get_mission("m").error == "failed tasks: Check, Pub"

    (project_dir / "notes.md").write_text("notes again")
    assert project.reassess_task(_task(record, "Check").id).status == TaskStatus.DONE
    assert project.get_mission("m").status == MissionStatus.FAILED  # Pub is still rejected
    again = project.resume("m", retry_failed=True).wait(WAIT)  # the way out: it runs Pub again
    assert again.status == MissionStatus.ACTIVE and _task(again, "Pub").status == TaskStatus.AWAITING_APPROVAL
    project.approve_task(_task(again, "Pub").id)
    assert project.get_mission("m").status == MissionStatus.COMPLETED


def test_a_failed_mission_whose_last_failed_task_passes_its_reassessment_is_completed(project, project_dir):
    project.agent("w")(lambda task, ctx: "ok")
    record = project.execute(polpo.Mission("m").task(
        "Check", assign_to="w", max_retries=0, expectations=[{"type": "file_exists", "paths": ["notes.md"]}])).wait(WAIT)
    assert record.status == MissionStatus.FAILED
    (project_dir / "notes.md").write_text("notes")
    assert project.reassess_task(_task(record, "Check").id).status == TaskStatus.DONE
    completed = project.get_mission("m")
    assert completed.status == MissionStatus.COMPLETED and completed.error is None
