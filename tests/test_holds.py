"""Holds as pure functions of a run: gates, delays, checkpoints and deadlines, with no event loop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from polpo_nb.engine.holds import (
    checkpoint_step,
    delay_due,
    delay_remaining,
    gate_state,
    gate_step,
    holds_allow,
    seconds_to_deadline,
)
from polpo_nb.engine.run import Run, RunFlags
from polpo_nb.spec import (
    Assessment,
    Checkpoint,
    Delay,
    MissionRecord,
    MissionStatus,
    QualityGate,
    TaskRecord,
    TaskStatus,
)

S = TaskStatus


def _task(title: str, status: TaskStatus = S.PENDING, *, score: float | None = None, passed: bool = True,
          depends_on: tuple[str, ...] = ()) -> TaskRecord:
    assessment = Assessment(score=score, passed=passed) if status == S.DONE else None
    return TaskRecord(id=f"t-{title}", mission_id="m", title=title, assign_to="w", status=status,
                      assessment=assessment, depends_on=list(depends_on))


def _run(*tasks: TaskRecord, gates: tuple[QualityGate, ...] = (), checkpoints: tuple[Checkpoint, ...] = (),
         delays: tuple[Delay, ...] = (), deadline: datetime | None = None, flags: RunFlags | None = None,
         status: MissionStatus = MissionStatus.ACTIVE) -> Run:
    mission = MissionRecord(id="m", name="m", tasks=list(tasks), quality_gates=list(gates), checkpoints=list(checkpoints),
                            delays=list(delays), deadline=deadline, status=status, quality_threshold=3.0)
    return Run(mission, list(tasks), flags=flags)


GATE = QualityGate(after_tasks=["build"], blocks_tasks=["ship"], min_score=4.0)


def test_a_gate_waits_until_its_after_tasks_are_done():
    run = _run(_task("build", S.IN_PROGRESS), _task("ship"), gates=(GATE,))
    assert gate_state(run, 0) == "waiting" and gate_step(run, 0) is None
    assert not holds_allow(run, run.task_by_title("ship"), now=0.0)


def test_a_gate_opens_once_its_min_score_is_met():
    run = _run(_task("build", S.DONE, score=4.5), _task("ship"), gates=(GATE,))
    assert gate_state(run, 0) == "open" and gate_step(run, 0) == "pass"
    assert holds_allow(run, run.task_by_title("ship"), now=0.0)
    run.flags.passed_gates.append(0)
    assert gate_step(run, 0) is None  # announced once


def test_a_gate_below_its_min_score_blocks_while_tasks_wait_on_it():
    run = _run(_task("build", S.DONE, score=3.5), _task("ship"), gates=(GATE,))
    assert gate_state(run, 0) == "blocked" and gate_step(run, 0) == "block"
    run.tasks["t-ship"] = _task("ship", S.FAILED)
    assert gate_step(run, 0) is None  # nothing waits on it any more


def test_a_paused_run_does_not_block_a_gate_again():
    run = _run(_task("build", S.FAILED), _task("ship"), gates=(GATE,), status=MissionStatus.PAUSED)
    assert gate_state(run, 0) == "blocked" and gate_step(run, 0) is None


def test_a_gate_without_min_score_uses_the_run_threshold_and_may_require_a_pass():
    gate = QualityGate(after_tasks=["build"], blocks_tasks=["ship"], require_all_passed=True)
    assert gate_state(_run(_task("build", S.DONE, score=2.5), _task("ship"), gates=(gate,)), 0) == "blocked"
    assert gate_state(_run(_task("build", S.DONE, score=4.0, passed=False), _task("ship"), gates=(gate,)), 0) == "blocked"
    assert gate_state(_run(_task("build", S.DONE, score=3.0), _task("ship"), gates=(gate,)), 0) == "open"


def test_an_overridden_gate_is_open():
    run = _run(_task("build", S.FAILED), _task("ship"), gates=(GATE,), flags=RunFlags(overridden_gates=[0]))
    assert gate_state(run, 0) == "open"
    assert holds_allow(run, run.task_by_title("ship"), now=0.0)


DELAY = Delay(name="settle", after_tasks=["deploy"], blocks_tasks=["verify"], duration="PT10S")


def test_a_delay_starts_once_its_after_tasks_are_done_and_holds_until_it_elapses():
    run = _run(_task("deploy", S.IN_PROGRESS), _task("verify"), delays=(DELAY,))
    assert not delay_due(run, DELAY) and delay_remaining(run, DELAY, now=100.0) is None
    assert not holds_allow(run, run.task_by_title("verify"), now=100.0)  # not started: still held
    run.tasks["t-deploy"] = _task("deploy", S.DONE)
    assert delay_due(run, DELAY)
    run.flags.delays_started["settle"] = 100.0
    assert not delay_due(run, DELAY)  # started once
    assert delay_remaining(run, DELAY, now=104.0) == 6.0
    assert not holds_allow(run, run.task_by_title("verify"), now=104.0)
    assert delay_remaining(run, DELAY, now=111.0) == 0.0
    assert holds_allow(run, run.task_by_title("verify"), now=111.0)


def test_a_task_no_hold_names_is_never_held():
    run = _run(_task("build", S.FAILED), _task("other"), gates=(GATE,), delays=(DELAY,))
    assert holds_allow(run, run.task_by_title("other"), now=0.0)
    alone = Run(None, [_task("solo")])
    assert holds_allow(alone, alone.task_by_title("solo"), now=0.0)


CHECKPOINT = Checkpoint(name="review", after_tasks=["draft"], message="Read it")


def test_a_checkpoint_waits_once_reached_with_work_left():
    run = _run(_task("draft", S.IN_PROGRESS), _task("publish", depends_on=("draft",)), checkpoints=(CHECKPOINT,))
    assert checkpoint_step(run, CHECKPOINT) == "not_reached"
    run.tasks["t-draft"] = _task("draft", S.DONE)
    assert checkpoint_step(run, CHECKPOINT) == "wait"
    run.flags.passed_checkpoints.append("review")
    assert checkpoint_step(run, CHECKPOINT) == "not_reached"


def test_a_checkpoint_with_nothing_left_to_hold_is_passed_through():
    run = _run(_task("draft", S.DONE), _task("publish", S.IN_PROGRESS), checkpoints=(CHECKPOINT,))
    assert checkpoint_step(run, CHECKPOINT) == "pass"


def test_the_deadline_is_counted_from_now_and_naive_means_utc():
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert seconds_to_deadline(_run(_task("a")), now) is None
    assert seconds_to_deadline(_run(_task("a"), deadline=now + timedelta(seconds=90)), now) == 90.0
    assert seconds_to_deadline(_run(_task("a"), deadline=datetime(2026, 1, 1, 12, 1)), now) == 60.0
    assert seconds_to_deadline(_run(_task("a"), deadline=now - timedelta(hours=1)), now) == 0.0
