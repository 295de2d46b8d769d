"""Re-running a settled mission from one of its tasks: what re-executes, what is refused, what the
holds forget.

Pure functions of a mission and a `Run` (like `holds.py`): none writes or awaits. `rerun_tail` answers
which tasks re-execute (the task and everything downstream of it, done ones included) or refuses in
the user's terms before anything is written; `reopen_holds` makes the run's flags forget what was
decided about those tasks, so the checkpoints, gates and delays that come after them apply again.
Carrying the plan out (one write, then the run goes on) is `Controls.rerun`'s job.
"""

from __future__ import annotations

from ..errors import ConflictError, NotFoundError
from ..spec import Assessment, MissionRecord, MissionStatus, TaskRecord, TaskStatus
from ..spec.status import RUNNING_TASK_STATES
from .run import Run
from .states import check_command

S = TaskStatus
#: Missions a re-run may start from: settled ones (nothing runs, nobody is asked anything but a resume).
RERUNNABLE = frozenset({MissionStatus.PAUSED, MissionStatus.COMPLETED, MissionStatus.FAILED, MissionStatus.CANCELLED})


def find_task(mission: MissionRecord, ref: str) -> TaskRecord:
    """A task of the mission by id, else by title."""
    for task in mission.tasks:
        if task.id == ref:
            return task
    for task in mission.tasks:
        if task.title == ref:
            return task
    raise NotFoundError(f"Mission {mission.name!r} has no task {ref!r}")


def refuse_unsettled(mission: MissionRecord, from_title: str, *, orphaned: bool) -> None:
    """Refuse a re-run of a mission that is running, waits for an approval, or never ran. `orphaned`:
    the mission is active but the process running it is gone."""
    if mission.status in RERUNNABLE:
        return
    name = mission.name
    if mission.status in (MissionStatus.DRAFT, MissionStatus.SCHEDULED):
        raise ConflictError(f"Mission {name!r} has not run yet: execute it")
    running = any(t.status in RUNNING_TASK_STATES for t in mission.tasks)
    awaiting = [t.title for t in mission.tasks if t.status == S.AWAITING_APPROVAL]
    if awaiting and not running:  # what waits behind it waits for the decision too (whichever process is gone)
        raise ConflictError(f"Mission {name!r} waits for a decision: {awaiting[0]!r} awaits approval: approve or "
                            "reject it first")
    if orphaned:
        raise ConflictError(f"Mission {name!r} was left running by a process that stopped: resume or abort it first")
    raise ConflictError(f"Mission {name!r} is running: re-run it from {from_title!r} once it has finished, or "
                        "abort it first")


def rerun_tail(run: Run, start: TaskRecord) -> list[str]:
    """The ids of `start` and of every task downstream of it, in the mission's order; refused (nothing
    written yet) when one of them is still running or awaits approval, when one depends on a failed task
    the re-run would not redo, or when the mission waits at a hold the re-run does not concern."""
    check_command(start.id, "rerun", start.status)
    tail = {start.id}
    frontier = [start.id]
    while frontier:
        for child in run.dependents.get(frontier.pop(), ()):
            if child not in tail:
                tail.add(child)
                frontier.append(child)
    ordered = sorted(tail, key=lambda tid: run.tasks[tid].seq)
    titles = {run.tasks[tid].title for tid in ordered}
    for tid in ordered:
        task = run.tasks[tid]
        if task.status in RUNNING_TASK_STATES:
            raise ConflictError(f"{task.title!r} is still running: wait for it, or kill it, before re-running "
                                f"from {start.title!r}")
        if task.status == S.AWAITING_APPROVAL:
            raise ConflictError(f"{task.title!r} awaits approval: approve or reject it first")
        for dep in task.depends_on:
            upstream = run.task_by_title(dep)
            if dep not in titles and upstream is not None and upstream.status == S.FAILED:
                raise ConflictError(f"{task.title!r} depends on {dep!r}, which failed: re-run from {dep!r} instead")
    _refuse_unrelated_pause(run, start.title, titles)
    return ordered


def _refuse_unrelated_pause(run: Run, from_title: str, titles: set[str]) -> None:
    """A mission paused at a checkpoint or a gate that the re-run does not redo waits for its human."""
    mission = run.mission
    assert mission is not None
    flags = run.flags
    if flags.waiting_checkpoint is not None:
        checkpoint = next((c for c in mission.checkpoints if c.name == flags.waiting_checkpoint), None)
        if checkpoint is not None and not titles & set(checkpoint.after_tasks):
            raise ConflictError(f"Mission {mission.name!r} is paused at checkpoint {checkpoint.name!r}, which a "
                                f"re-run from {from_title!r} does not redo: resume it first")
    if flags.blocked_gate is not None and flags.blocked_gate < len(mission.quality_gates):
        gate = mission.quality_gates[flags.blocked_gate]
        if not titles & set(gate.after_tasks):
            name = gate.name or f"gate-{flags.blocked_gate}"
            raise ConflictError(f"Mission {mission.name!r} is paused at quality gate {name!r}, which a re-run from "
                                f"{from_title!r} does not redo: resume it first")


def reopen_holds(run: Run, titles: set[str]) -> list[str]:
    """Forget what was decided about the holds that come after the re-run tasks (`titles`): their
    checkpoints wait again, their gates are judged again (a human's override included), their delays
    count again from when those tasks are done. Returns the names of the delays reset (their timers go)."""
    mission = run.mission
    assert mission is not None
    flags = run.flags
    after = {c.name: set(c.after_tasks) for c in mission.checkpoints}
    flags.passed_checkpoints = [c for c in flags.passed_checkpoints if not titles & after.get(c, set())]
    if flags.waiting_checkpoint is not None and titles & after.get(flags.waiting_checkpoint, set()):
        flags.waiting_checkpoint = None
    redone = {i for i, gate in enumerate(mission.quality_gates) if titles & set(gate.after_tasks)}
    flags.passed_gates = [i for i in flags.passed_gates if i not in redone]
    flags.overridden_gates = [i for i in flags.overridden_gates if i not in redone]
    if flags.blocked_gate in redone:
        flags.blocked_gate = None
    delays = [d.name for d in mission.delays if titles & set(d.after_tasks) and d.name in flags.delays_started]
    for name in delays:
        del flags.delays_started[name]
    return delays


def superseded(assessment: Assessment, from_title: str) -> str:
    """The line a re-run task's last attempt keeps in its log: the verdict the re-run replaces (the task
    record starts afresh; the attempt's result is in its row)."""
    score = "no score" if assessment.score is None else f"score {assessment.score:g}"
    verdict = "passed" if assessment.passed else "failed"
    feedback = f": {assessment.feedback}" if assessment.feedback else ""
    return f"assessment before the re-run from {from_title!r}: {score}, {verdict}{feedback}"
