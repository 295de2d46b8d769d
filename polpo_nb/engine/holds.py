"""What holds a run back: quality gates, delays, checkpoints and the deadline, as pure functions of a run.

Each function reads a `Run` (its tasks, its mission's holds, the flags humans set) and the time it is
given, and answers; none writes, awaits or looks at a clock, so each is testable with a `Run` built
from records and no event loop. Acting on the answers (events, pausing the mission, timers) is
`pausing.py`'s job.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from ..spec import Checkpoint, Delay, TaskRecord, TaskStatus
from .run import Run

S = TaskStatus

GateState = Literal["open", "waiting", "blocked"]
#: What a settled task changes at a gate: it opens (once), or it can no longer open while tasks wait on it.
GateStep = Literal["pass", "block"] | None
#: What a checkpoint asks of the run now: nothing yet, to be passed through (nothing left to hold back), or
#: a pause until a human resumes it.
CheckpointStep = Literal["not_reached", "pass", "wait"]


def has_holds(run: Run) -> bool:
    """Whether the run's mission has any gate, delay or checkpoint: a settled task of a run without
    them has none to check (most runs; their tasks then skip the checks' work altogether)."""
    mission = run.mission
    return mission is not None and bool(mission.quality_gates or mission.delays or mission.checkpoints)


def gate_state(run: Run, index: int) -> GateState:
    """'open', 'waiting' (an afterTasks task is not done yet) or 'blocked' (it can no longer be met: an
    afterTasks task failed, scored below `minScore`, or did not pass with `requireAllPassed`). A gate a
    human overrode is open."""
    assert run.mission is not None
    gate = run.mission.quality_gates[index]
    if index in run.flags.overridden_gates:
        return "open"
    min_score = gate.min_score if gate.min_score is not None else run.threshold
    state: GateState = "open"
    for title in gate.after_tasks:
        task = run.task_by_title(title)
        if task is None:
            continue
        if task.status == S.FAILED:
            return "blocked"
        if task.status != S.DONE:
            state = "waiting"
            continue
        score = task.assessment.score if task.assessment else None
        passed = task.assessment.passed if task.assessment else True
        if (score is not None and score < min_score) or (gate.require_all_passed and not passed):
            return "blocked"
    return state


def gate_step(run: Run, index: int) -> GateStep:
    """'pass' the first time the gate is seen open; 'block' when it cannot open while its blocksTasks
    wait and the run is active (the mission then pauses); None otherwise."""
    assert run.mission is not None
    gate = run.mission.quality_gates[index]
    state = gate_state(run, index)
    if state == "open" and index not in run.flags.passed_gates:
        return "pass"
    waiting = any((t := run.task_by_title(title)) is not None and t.status == S.PENDING for title in gate.blocks_tasks)
    if state == "blocked" and waiting and run.active:
        return "block"
    return None


def delay_remaining(run: Run, delay: Delay, now: float) -> float | None:
    """Seconds left at epoch time `now` (0.0 once elapsed); None while its clock has not started."""
    started = run.flags.delays_started.get(delay.name)
    if started is None:
        return None
    return max(0.0, started + delay.seconds - now)


def delay_due(run: Run, delay: Delay) -> bool:
    """The delay's clock should start: every afterTasks task is done and it has not started yet."""
    if delay.name in run.flags.delays_started:
        return False
    return all((t := run.task_by_title(title)) is not None and t.status == S.DONE for title in delay.after_tasks)


def holds_allow(run: Run, task: TaskRecord, now: float) -> bool:
    """No quality gate and no delay holds `task` back at epoch time `now`."""
    if run.mission is None:
        return True
    gates = all(gate_state(run, i) == "open"
                for i, gate in enumerate(run.mission.quality_gates) if task.title in gate.blocks_tasks)
    return gates and all(delay_remaining(run, d, now) == 0.0
                         for d in run.mission.delays if task.title in d.blocks_tasks)


def checkpoint_step(run: Run, checkpoint: Checkpoint) -> CheckpointStep:
    """'wait' when its afterTasks are all done and tasks remain to hold back; 'pass' when they are done
    and nothing is left to hold; 'not_reached' otherwise (a passed checkpoint is never reached again)."""
    if checkpoint.name in run.flags.passed_checkpoints:
        return "not_reached"
    tasks = [run.task_by_title(title) for title in checkpoint.after_tasks]
    if not all(t is not None and t.status == S.DONE for t in tasks):
        return "not_reached"
    if run.all_terminal() or all(t.status != S.PENDING for t in run.tasks.values()):
        return "pass"
    return "wait"


def seconds_to_deadline(run: Run, now: datetime) -> float | None:
    """Seconds from `now` (aware) until the mission's deadline, 0.0 once passed; None without one. A
    deadline without a time zone is UTC."""
    deadline = run.mission.deadline if run.mission else None
    if deadline is None:
        return None
    if deadline.tzinfo is None:
        deadline = deadline.replace(tzinfo=UTC)
    return max(0.0, (deadline - now).total_seconds())
