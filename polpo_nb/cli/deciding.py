"""The commands a human decides with: approve, reject, retry, abort.

A decision on a mission that no live process runs any more (its `polpo run` exited to wait for exactly
this decision) is carried out inside the mission's run, taken over here first, and the mission goes
on in the foreground like `polpo resume`: approving "Publish" publishes. A retry that reopens a failed
mission runs it here too. A run owned by another live process (a notebook, a server) gets the decision
through the store and goes on there.
"""

from __future__ import annotations

from collections.abc import Callable

import click

from ..project import Project, RunHandle
from ..spec import MissionStatus, TaskRecord
from .app import cli
from .exits import OK
from .options import plain_option, project_option, say
from .running import show_run
from .watch import Interrupts, verdict
from .workspace import find_mission, find_task, opened

note_option = click.option("--note", help="Why (kept with the decision and in its event).")


def carry_out(project: Project, task: TaskRecord, act: Callable[[], str], interrupts: Interrupts, *,
              plain: bool, follow_standalone: bool = False) -> int:
    """Do the decision `act` (it returns what to tell the user), then follow the run it moves, if it
    runs here (see the module docstring)."""
    if task.mission_id is None:
        say(act())
        if not follow_standalone:
            return OK
        return show_run(project, lambda: RunHandle(project.aio, f"task:{task.id}", task_id=task.id), interrupts,
                        plain=plain)
    before = project.get_mission(task.mission_id)
    orphaned = before.status == MissionStatus.ACTIVE and any(
        m.id == before.id for m in project.resumable_missions())
    if orphaned:
        def take_over_then_act() -> RunHandle:
            handle = project.resume(before.id)
            say(act())
            return handle
        return show_run(project, take_over_then_act, interrupts, plain=plain)
    say(act())
    after = project.get_mission(before.id)
    if before.status != MissionStatus.ACTIVE and after.status == MissionStatus.ACTIVE:
        return show_run(project, lambda: RunHandle(project.aio, before.id, mission_id=before.id), interrupts,
                        plain=plain)  # reopened by the decision, in this process
    if after.status == MissionStatus.PAUSED:  # the decision waits for the mission to be resumed
        message, code = verdict(after)
        say(message)
        return code
    return OK


def _decide(task_ref: str, note: str | None, plain: bool, project_dir: str, *, approve: bool) -> int:
    with Interrupts().installed() as interrupts, opened(project_dir) as project:
        task = find_task(project, task_ref, prefer="awaiting_approval")

        def act() -> str:
            decided = (project.approve_task if approve else project.reject_task)(task.id, note)
            return (f"task {decided.title!r} ({decided.id}): {'approved' if approve else 'rejected'}, "
                    f"now {decided.status.value}")
        return carry_out(project, task, act, interrupts, plain=plain)


@cli.command(short_help="Approve a task awaiting approval.")
@click.argument("task_ref", metavar="TASK")
@note_option
@plain_option
@project_option
def approve(task_ref: str, note: str | None, plain: bool, project_dir: str) -> int:
    """Approve a task awaiting approval (id or title); its mission carries on."""
    return _decide(task_ref, note, plain, project_dir, approve=True)


@cli.command(short_help="Reject a task awaiting approval.")
@click.argument("task_ref", metavar="TASK")
@note_option
@plain_option
@project_option
def reject(task_ref: str, note: str | None, plain: bool, project_dir: str) -> int:
    """Reject a task awaiting approval (id or title): it fails, and so does what depends on it."""
    return _decide(task_ref, note, plain, project_dir, approve=False)


@cli.command(short_help="Run a failed task again.")
@click.argument("task_ref", metavar="TASK")
@plain_option
@project_option
def retry(task_ref: str, plain: bool, project_dir: str) -> int:
    """Run a failed task again (with the dependents its failure skipped), following it to the end."""
    with Interrupts().installed() as interrupts, opened(project_dir) as project:
        task = find_task(project, task_ref, prefer="failed")

        def act() -> str:
            retried = project.retry_task(task.id)
            return f"task {retried.title!r} ({retried.id}): retry {retried.retries}, now {retried.status.value}"
        return carry_out(project, task, act, interrupts, plain=plain, follow_standalone=True)


@cli.command(short_help="Delete a mission that is not running.")
@click.argument("name")
@project_option
def delete(name: str, project_dir: str) -> int:
    """Delete a mission (its tasks, attempts and logs with it): a draft a failed `polpo run` saved, an old
    run. Refused while it runs or is paused (abort it first)."""
    with opened(project_dir) as project:
        mission = find_mission(project, name)
        project.delete_mission(mission.id)
        say(f"mission {mission.name}: deleted")
    return OK


@cli.command(short_help="Abort a running or paused mission.")
@click.argument("name")
@project_option
def abort(name: str, project_dir: str) -> int:
    """Abort a running or paused mission: attempts cancelled, unfinished tasks failed, mission cancelled."""
    with opened(project_dir) as project:
        mission = project.abort(find_mission(project, name).id)
        say(f"mission {mission.name}: {mission.status.value}")
    return OK
