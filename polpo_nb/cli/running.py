"""`polpo run`, `polpo resume` and `polpo rerun`: start, continue or re-run a mission and follow it until
it settles.

A run in the foreground ends when the mission completes or fails, or when it needs a human (a
checkpoint, a blocked gate, an approval): the command then says which command continues it and exits
3. `--detach` hands the run to a background `polpo run` and returns once it has started.
"""

from __future__ import annotations

import hashlib
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import click

from ..engine.schedules import is_recurring, on_time, parse_iso
from ..errors import NotFoundError
from ..missionfile import load_mission
from ..project import Project, RunHandle
from ..spec import Mission, MissionRecord
from .app import cli
from .exits import BAD_INPUT, FAILED, OK, REFUSED, UserError
from .options import plain_option, project_option, say
from .watch import Interrupts, follow, verdict
from .workspace import find_mission, is_project, opened

MISSION_SUFFIXES = (".yaml", ".yml", ".json")
DETACH_POLL_SECONDS = 0.05


def _target(target: str) -> Mission | str:
    """A mission file (parsed now: a bad file is reported before anything runs), or a saved mission's name."""
    path = Path(target)
    if path.is_file():
        return load_mission(path)
    if path.suffix.lower() in MISSION_SUFFIXES:
        raise UserError(f"no such mission file: {target}")
    return target  # a name (it may hold a `/`: `team/weekly`); one no mission has says both


def show_run(project: Project, start: Callable[[], RunHandle], interrupts: Interrupts, *, plain: bool) -> int:
    """Start a run, follow it to its settling point, print what it means, return the exit code."""
    message, code = verdict(follow(project, start, interrupts, plain=plain))
    say(message)
    return code


@cli.command(short_help="Run a mission file or a saved mission, live.")
@click.argument("target", metavar="FILE|NAME")
@click.option("--detach", is_flag=True, help="Run in a background process and return once it has started.")
@plain_option
@project_option
def run(target: str, detach: bool, plain: bool, project_dir: str) -> int:
    """Run a mission: a YAML/JSON mission FILE (saved first), or a saved mission's NAME.

    Shows the DAG live (plain lines when stdout is not a terminal) until the mission completes, fails
    or waits for a human. Ctrl-C pauses it (`polpo resume NAME` continues); a second Ctrl-C quits at once.
    """
    spec = _target(target)
    if isinstance(spec, str) and not is_project(Path(project_dir)):
        raise UserError(f"no mission file {target!r}, and {project_dir} is not a polpo project")
    if detach:
        return _detach(spec, target, project_dir)
    with Interrupts().installed() as interrupts, opened(project_dir, create=True) as project:
        if isinstance(spec, str):
            spec = find_mission(project, spec).name
        name = spec if isinstance(spec, str) else spec.name
        code = show_run(project, lambda: project.execute(spec), interrupts, plain=plain)
        after = project.get_mission(name)
        if after.schedule and after.next_run_at:  # run now by hand: the schedule goes on, and fires elsewhere
            say(f"its schedule stays: {_schedule_note(after)}")
        return code


@cli.command(short_help="Save a mission file without running it (scheduled, if it has a schedule).")
@click.argument("file", metavar="FILE")
@project_option
def save(file: str, project_dir: str) -> int:
    """Save a YAML/JSON mission FILE, replacing the saved mission of its name unless that one runs.

    A mission with a `schedule` is then `scheduled`: a long-lived polpo (`polpo serve`, or a Jupyter
    server with polpo) fires it at its next run. Without one it is a draft: `polpo run NAME` runs it.
    """
    spec = _target(file)
    if isinstance(spec, str):
        raise UserError(f"no such mission file: {file}")
    with opened(project_dir, create=True) as project:
        record = project.save_mission(spec, replace=True)
    head = f"saved {record.name} ({record.id}): {record.status.value}"
    if record.schedule and record.next_run_at and _passed(record.schedule, record.next_run_at):
        say(f"{head}, but its one-shot time {record.next_run_at} has passed: it will be reported missed, not run "
            f"(give a time to come, or run it now: polpo run {shlex.quote(record.name)})")
    elif record.schedule and record.next_run_at:
        say(f"{head}, {_schedule_note(record)}")
    elif record.schedule:
        say(f"{head}; its schedule {record.schedule!r} has no run left: it will not fire")
    else:
        say(f"{head}; run it with: polpo run {shlex.quote(record.name)}")
    return OK


def _passed(schedule: str, next_run_at: str) -> bool:
    """A one-shot time too long gone to fire (the API saves it, and the scheduler reports it missed)."""
    return not is_recurring(schedule) and not on_time(parse_iso(next_run_at), datetime.now(UTC))


def _schedule_note(mission: MissionRecord) -> str:
    """When a scheduled mission runs next, and what runs it (nothing does while only the CLI runs)."""
    assert mission.schedule is not None
    how = f"cron {mission.schedule!r}, UTC" if is_recurring(mission.schedule) else "once"
    return (f"next run {mission.next_run_at} ({how}); a long-lived polpo fires it: `polpo serve`, or a Jupyter "
            "server with polpo")


@cli.command(short_help="Continue a paused or orphaned mission.")
@click.argument("name")
@click.option("--retry-failed", is_flag=True, help="Run the failed tasks again (a failed mission, a blocked gate).")
@plain_option
@project_option
def resume(name: str, retry_failed: bool, plain: bool, project_dir: str) -> int:
    """Continue a paused mission (checkpoint, gate, interrupted), or one whose process died."""
    with Interrupts().installed() as interrupts, opened(project_dir) as project:
        mission = find_mission(project, name)
        return show_run(project, lambda: project.resume(mission.id, retry_failed=retry_failed), interrupts, plain=plain)


@cli.command(short_help="Run a mission again from one of its tasks, live.")
@click.argument("name")
@click.option("--from", "from_task", required=True, metavar="TASK",
              help="The task (title or id) to re-run from: it and everything downstream of it run again.")
@plain_option
@project_option
def rerun(name: str, from_task: str, plain: bool, project_dir: str) -> int:
    """Run a finished, failed, cancelled or paused mission again from one of its tasks.

    TASK and every task downstream of it re-execute (done ones included); the results upstream of it
    are reused and every earlier attempt is kept (`polpo logs TASK`). Refused while the mission runs.
    """
    with Interrupts().installed() as interrupts, opened(project_dir) as project:
        mission = find_mission(project, name)
        return show_run(project, lambda: project.rerun(mission.id, from_task=from_task), interrupts, plain=plain)


def _log_name(name: str) -> str:
    """A detached run's log file: the mission's name as a file name of its own (a name is free text: `..`,
    `/`, an absolute path were a path out of `.polpo/runs/`); a name that had to change is told apart from
    others by a digest of the whole."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip(".-")[:80] or "mission"
    return f"{safe}.log" if safe == name else f"{safe}-{hashlib.sha256(name.encode()).hexdigest()[:8]}.log"


def _detach(spec: Mission | str, target: str, project_dir: str) -> int:
    """Start `polpo run` in its own session (Ctrl-C here does not reach it), its output in a log file;
    return once its mission is running."""
    root = Path(project_dir).resolve()
    name = spec if isinstance(spec, str) else spec.name
    argument = target if isinstance(spec, str) else str(Path(target).resolve())
    with opened(project_dir, create=True) as project:
        try:
            before = project.get_mission(name).execution_count
        except NotFoundError:
            before = 0
        log = root / ".polpo" / "runs" / _log_name(name)
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as sink:
            child = subprocess.Popen(
                [sys.executable, "-m", "polpo_nb.cli", "run", "--plain", "--project", str(root), argument],
                stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
        while not _started(project, name, before):
            if child.poll() is not None and not _started(project, name, before):
                tail = log.read_text(errors="replace").strip().splitlines()[-1:] or [""]
                code = child.returncode if child.returncode in (BAD_INPUT, REFUSED) else FAILED  # its refusal is ours
                raise UserError(f"the background run exited ({child.returncode}) before starting: {tail[0]}", code)
            time.sleep(DETACH_POLL_SECONDS)
    try:
        shown = log.relative_to(Path.cwd())
    except ValueError:
        shown = log
    word = shlex.quote(name)
    say(f"mission {name}: running in the background (pid {child.pid}, output in {shown})\n"
        f"follow it: polpo events --follow   see it: polpo show {word}   stop it: polpo abort {word}")
    return OK


def _started(project: Project, name: str, before: int) -> bool:
    try:
        return project.get_mission(name).execution_count > before
    except NotFoundError:
        return False
