"""The commands a human decides with: approve, reject, retry, abort.

A decision on a mission whose `polpo run` has exited (it stopped to wait for exactly this decision)
carries the mission on here, in the foreground, like `polpo resume`: approving "Publish" publishes.
"""

from __future__ import annotations

import click

from ..project import RunHandle
from ..spec import TaskRecord
from .app import cli
from .exits import OK
from .options import plain_option, project_option
from .running import continue_if_orphaned, show_run
from .watch import Interrupts
from .workspace import find_mission, find_task, opened

note_option = click.option("--note", help="Why (kept with the decision and in its event).")


def _decide(task_ref: str, note: str | None, plain: bool, project_dir: str, *, approve: bool) -> int:
    with Interrupts().installed() as interrupts, opened(project_dir) as project:
        task = find_task(project, task_ref, prefer="awaiting_approval")
        decided = (project.approve_task if approve else project.reject_task)(task.id, note)
        click.echo(f"task {decided.title!r} ({decided.id}): {'approved' if approve else 'rejected'}, "
                   f"now {decided.status.value}")
        return continue_if_orphaned(project, decided.mission_id, interrupts, plain=plain)


@cli.command()
@click.argument("task_ref", metavar="TASK")
@note_option
@plain_option
@project_option
def approve(task_ref: str, note: str | None, plain: bool, project_dir: str) -> int:
    """Approve a task awaiting approval (id or title); its mission carries on."""
    return _decide(task_ref, note, plain, project_dir, approve=True)


@cli.command()
@click.argument("task_ref", metavar="TASK")
@note_option
@plain_option
@project_option
def reject(task_ref: str, note: str | None, plain: bool, project_dir: str) -> int:
    """Reject a task awaiting approval (id or title): it fails, and so does what depends on it."""
    return _decide(task_ref, note, plain, project_dir, approve=False)


@cli.command()
@click.argument("task_ref", metavar="TASK")
@plain_option
@project_option
def retry(task_ref: str, plain: bool, project_dir: str) -> int:
    """Run a failed task again (with the dependents its failure skipped), following it to the end."""
    with Interrupts().installed() as interrupts, opened(project_dir) as project:
        task: TaskRecord = find_task(project, task_ref, prefer="failed")
        retried = project.retry_task(task.id)
        click.echo(f"task {retried.title!r} ({retried.id}): retry {retried.retries}, now {retried.status.value}")
        if retried.mission_id is None:
            return show_run(project, lambda: RunHandle(project.aio, f"task:{task.id}", task_id=task.id), interrupts,
                            plain=plain)
        return continue_if_orphaned(project, retried.mission_id, interrupts, plain=plain)


@cli.command()
@click.argument("name")
@project_option
def abort(name: str, project_dir: str) -> int:
    """Abort a running or paused mission: attempts cancelled, unfinished tasks failed, mission cancelled."""
    with opened(project_dir) as project:
        mission = project.abort(find_mission(project, name).id)
        click.echo(f"mission {mission.name}: {mission.status.value}")
    return OK
