"""The commands that only read: missions, tasks, show, logs, events. None of them creates `.polpo/`."""

from __future__ import annotations

import json
import queue
import shlex
from typing import Any

import click

from ..events.model import Event, parse_event_id
from ..project import Project
from ..spec import MissionRecord, MissionStatus, TaskRecord
from .app import cli
from .exits import UserError
from .options import json_option, print_json, print_table, project_option, say
from .usage import budget_line, spend_line
from .view import stdout
from .watch import Interrupts
from .workspace import find_mission, find_task, opened

FOLLOW_TICK = 0.5  # seconds between looks at Ctrl-C while following
STATUSES = ("draft", "pending", "assigned", "in_progress", "review", "awaiting_approval", "done", "failed")


def _done(mission: MissionRecord) -> str:
    return f"{sum(t.status.value == 'done' for t in mission.tasks)}/{len(mission.tasks)}"


def _score(task: TaskRecord) -> str:
    return "" if task.assessment is None or task.assessment.score is None else f"{task.assessment.score:g}"


@cli.command(short_help="List the missions.")
@json_option
@project_option
def missions(as_json: bool, project_dir: str) -> None:
    """List the missions: status, tasks done, why a paused one waits, and an active one nobody runs."""
    with opened(project_dir) as project:
        found = project.list_missions()
        stopped = set() if as_json else _stopped(project)  # the JSON is the records as stored
    if as_json:
        print_json(found)
        return
    print_table(["id", "name", "status", "done", "waiting for"],
                [(m.id, m.name, m.status.value, _done(m), _waiting(m, m.id in stopped)) for m in found],
                empty="no missions yet")


def _stopped(project: Project) -> set[str]:
    """The ids of the active missions whose process stopped (killed, the machine went down): resumable,
    though nobody paused them."""
    return {m.id for m in project.resumable_missions() if m.status == MissionStatus.ACTIVE}


def _waiting(mission: MissionRecord, stopped: bool) -> str:
    """Why a mission waits: a human (its pause message), or, when the process running it stopped (killed,
    the machine went down), the command that takes it over."""
    if stopped:
        return f"its process stopped: polpo resume {shlex.quote(mission.name)}"
    return mission.pause_message or ""


@cli.command(short_help="List tasks, by status or mission.")
@click.option("--status", type=click.Choice(STATUSES), help="Only tasks in this status.")
@click.option("--mission", "mission_ref", metavar="M", help="Only the tasks of mission M (name or id).")
@json_option
@project_option
def tasks(status: str | None, mission_ref: str | None, as_json: bool, project_dir: str) -> None:
    """List tasks (all, or one mission's), optionally by status."""
    with opened(project_dir) as project:
        group = find_mission(project, mission_ref).name if mission_ref else None
        found = project.list_tasks(status=status, group=group)
    if as_json:
        print_json(found)
        return
    print_table(["id", "title", "mission", "agent", "status", "score", "retries"],
                [(t.id, t.title, t.group or "", t.assign_to, t.status.value, _score(t), t.retries or "")
                 for t in found], empty="no tasks")


@cli.command(short_help="One mission: gates, checkpoints, tasks, results.")
@click.argument("mission_ref", metavar="MISSION")
@json_option
@project_option
def show(mission_ref: str, as_json: bool, project_dir: str) -> None:
    """One mission: its status, gates, checkpoints and every task with its score and result."""
    with opened(project_dir) as project:
        mission = find_mission(project, mission_ref)
        spent = project.mission_usage(mission.id)
        stopped = not as_json and mission.id in _stopped(project)
    if as_json:
        print_json(mission)
        return
    say(f"{mission.name} ({mission.id})  {mission.status.value}  {_done(mission)} done")
    for label, value in (("prompt", mission.prompt), ("waiting", _waiting(mission, stopped)), ("error", mission.error),
                         ("spent", spend_line(spent.total) if spent.total.requests else None),
                         ("budget", budget_line(spent))):
        if value:
            say(f"  {label}: {value}")
    for gate in mission.quality_gates:
        say(f"  gate: {', '.join(gate.after_tasks)} -> {', '.join(gate.blocks_tasks)} (min score "
                   f"{gate.min_score if gate.min_score is not None else mission.quality_threshold:g})")
    for cp in mission.checkpoints:
        say(f"  checkpoint {cp.name!r} after {', '.join(cp.after_tasks)}")
    print_table(["id", "title", "agent", "status", "score", "retries", "depends on", "result"],
                [(t.id, t.title, t.assign_to, t.status.value, _score(t), t.retries or "", ", ".join(t.depends_on),
                  _result_line(t)) for t in mission.tasks], empty="no tasks")


def _result_line(task: TaskRecord) -> str:
    if task.result is None:
        return ""
    text = task.result.error or task.result.content or ""
    lines = text.strip().splitlines()
    return (lines[-1] if task.result.error else lines[0])[:60] if lines else ""


@cli.command(short_help="A task's attempts: outputs, logs, results.")
@click.argument("task_ref", metavar="TASK")
@json_option
@project_option
def logs(task_ref: str, as_json: bool, project_dir: str) -> None:
    """A task's attempts: what its agent said (ctx.output), logged, and returned or raised."""
    with opened(project_dir) as project:
        task = find_task(project, task_ref)
        attempts = _attempts(project, task)
    if as_json:
        print_json(attempts)
        return
    say(f"{task.title} ({task.id})  {task.status.value}")
    if not attempts:
        say("  no attempts yet")
    for a in attempts:
        say(f"\nattempt {a['number']}  {a['phase']}  {a['agent']}  {a['status']}  "
                   f"{a['startedAt']} .. {a['finishedAt'] or ''}")
        for line in a["outputs"]:
            say(f"  > {line}")
        for entry in a["log"]:
            say(f"  [{entry['level']}] {entry['message'].rstrip()}")
        result = a["result"] or {}
        if result.get("content"):
            say(f"  result: {result['content'].strip()}")


def _attempts(project: Project, task: TaskRecord) -> list[dict[str, Any]]:
    """Attempts as the store keeps them, with their outputs (events) and log lines (log sessions)."""
    outputs: dict[int, list[str]] = {}
    for event in project.replay(0, "task:output"):
        if event.data.get("taskId") == task.id:
            outputs.setdefault(event.data.get("attempt", 0), []).append(str(event.data.get("text", "")))
    sessions = {s.session_id for s in project.log_sessions()}
    out = []
    for a in project.attempts(task.id):
        session = f"{task.id}-{a.number}"
        out.append({
            "number": a.number, "phase": a.phase, "agent": a.agent, "model": a.model,
            "status": a.status, "startedAt": a.started_at, "finishedAt": a.finished_at,
            "outputs": outputs.get(a.number, []),
            "log": [e.to_wire() for e in project.log(session)] if session in sessions else [],
            "result": json.loads(a.result) if a.result else None,
        })
    return out


@cli.command(short_help="Print (and follow) the event stream.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events until Ctrl-C.")
@click.option("--filter", "pattern", metavar="GLOB", help="Only events whose name matches (task:*, mission:status).")
@click.option("--since", metavar="ID", help="Only events after this id (42 or evt_00042).")
@json_option
@project_option
def events(follow: bool, pattern: str | None, since: str | None, as_json: bool, project_dir: str) -> None:
    """Print the project's event stream (one line, or one JSON object, per event)."""
    try:
        after = parse_event_id(since) or 0
    except Exception:  # noqa: BLE001 - SpecError speaks of lastEventId, the HTTP name
        raise UserError(f"not an event id: {since!r} (use 42 or evt_00042)") from None
    # Following ends on SIGINT or SIGTERM, handled here whatever the process inherited (a background
    # job starts with SIGINT ignored; SIGTERM would end it without closing the project).
    with Interrupts().installed() as interrupts, opened(project_dir) as project:
        live: queue.SimpleQueue[Event] = queue.SimpleQueue()
        subscription = project.subscribe(live.put, pattern) if follow else None
        last = after
        for event in project.replay(after, pattern):
            if interrupts.count:
                break
            _print_event(event, as_json)
            last = event.id
        while subscription is not None and not interrupts.count:
            try:
                event = live.get(timeout=FOLLOW_TICK)
            except queue.Empty:
                continue
            if event.id > last:
                _print_event(event, as_json)
                last = event.id
    if interrupts.count:
        raise click.Abort  # "polpo: interrupted", exit 130, once the project is closed


def _print_event(event: Event, as_json: bool) -> None:
    if as_json:
        say(json.dumps(event.to_wire(), ensure_ascii=False))
    else:
        data = {k: v for k, v in event.data.items() if k != "timestamp"}
        say(f"{event.wire_id}  {event.timestamp}  {event.event:22} {json.dumps(data, ensure_ascii=False)}")
    if stdout().closed_by_reader:
        raise click.exceptions.Exit(0)  # `polpo events -f | head`: the reader has gone
