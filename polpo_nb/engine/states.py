"""The task state machine of ARCHITECTURE.md §3, as one table.

Every status change in the engine goes through `check_transition`; an arrow missing here is a bug and
is refused with IllegalTransitionError (HTTP 409). What a user may ask of a task in a given status (retry
only a failed one, approve only one awaiting approval) is `COMMANDS`, checked by `check_command` before
anything is written, so a refusal says what the user can do rather than naming an arrow.
"""

from __future__ import annotations

from typing import Any

from ..errors import IllegalTransitionError
from ..spec import TaskResult
from ..spec import TaskStatus as S

#: (from, to) -> why the engine may move a task from status `from` to status `to`. A pair that is not a key
#: is refused; `check_transition` is called on every status change the engine writes.
TRANSITIONS: dict[tuple[S, S], str] = {
    (S.DRAFT, S.PENDING): "queued by a mission run or execute",
    (S.DONE, S.PENDING): "a new execution starts the task afresh (its past stays in its attempts)",
    (S.PENDING, S.ASSIGNED): "an agent is spawned",
    (S.ASSIGNED, S.IN_PROGRESS): "the agent starts (phase execution)",
    (S.IN_PROGRESS, S.REVIEW): "the agent returned; assessment starts",
    (S.REVIEW, S.DONE): "assessment passed",
    (S.REVIEW, S.IN_PROGRESS): "assessment failed: fix phase with its feedback",
    (S.REVIEW, S.AWAITING_APPROVAL): "assessment passed on a task with side effects",
    (S.AWAITING_APPROVAL, S.DONE): "approved",
    (S.AWAITING_APPROVAL, S.FAILED): "rejected or killed",
    (S.IN_PROGRESS, S.PENDING): "the attempt raised or timed out; retried",
    (S.REVIEW, S.FAILED): "assessment failed with no retries left",
    (S.IN_PROGRESS, S.FAILED): "the attempt failed with no retries left, or killed",
    (S.ASSIGNED, S.FAILED): "killed",
    (S.PENDING, S.FAILED): "killed, aborted, or skipped because a dependency failed",
    (S.FAILED, S.PENDING): "retry, or a new execution",
    (S.DONE, S.REVIEW): "reassess",
    (S.FAILED, S.REVIEW): "reassess",
    (S.ASSIGNED, S.PENDING): "requeued after a crash",
    (S.REVIEW, S.PENDING): "requeued after a crash",
}

#: Why a task failed without its agent failing: the first word of its result's `error`.
SKIPPED_PREFIX = "skipped:"  # a dependency failed, so it never ran
ABORTED_PREFIX = "aborted:"  # its mission was aborted (or its deadline passed) before it finished

#: command -> (the statuses a task may be in for it, what to tell a user whose task is in another one).
#: Commands are narrower than the arrows they take: retry and execute both lead to pending, from
#: different places.
COMMANDS: dict[str, tuple[frozenset[S], str]] = {
    "execute": (frozenset({S.DRAFT, S.PENDING, S.DONE, S.FAILED}), "abort it or wait before executing it again"),
    "retry": (frozenset({S.FAILED}), "only a failed task can be retried (execute a draft or finished task instead)"),
    "approve": (frozenset({S.AWAITING_APPROVAL}), "it is not awaiting approval, so there is nothing to approve"),
    "reject": (frozenset({S.AWAITING_APPROVAL}), "it is not awaiting approval, so there is nothing to reject"),
    "kill": (frozenset({S.PENDING, S.ASSIGNED, S.IN_PROGRESS, S.REVIEW, S.AWAITING_APPROVAL}),
             "only a queued or running task can be killed"),
    "reassess": (frozenset({S.DONE, S.FAILED}), "only a finished task can be reassessed"),
    "rerun": (frozenset({S.DONE, S.FAILED}), "only a task that has run (done or failed) can be re-run from; "
              "resume the mission to run the others"),
}


def check_command(task_id: str, command: str, current: S) -> None:
    """Refuse (IllegalTransitionError, HTTP 409) a command the task's status does not allow, in words."""
    allowed, hint = COMMANDS[command]
    if current not in allowed:
        raise IllegalTransitionError(f"Task {task_id} is {current.value}: {hint}", taskId=task_id,
                                     status=current.value, command=command)


def entering(status: S, result: TaskResult | None) -> dict[str, Any]:
    """Record changes that come with entering `status`: back in pending, a task has not run yet, so
    the duration of its previous attempt (kept in its attempts) is no longer its own."""
    if status == S.PENDING and result is not None and result.duration_ms is not None:
        return {"result": result.evolve(duration_ms=None)}
    return {}


def check_transition(task_id: str, current: S, target: S) -> None:
    if (current, target) not in TRANSITIONS:
        allowed = sorted(t.value for (f, t) in TRANSITIONS if f == current)
        raise IllegalTransitionError(
            f"Task {task_id}: cannot go from {current.value} to {target.value}"
            f" (from {current.value} it can go to: {', '.join(allowed) or 'nothing'})",
            taskId=task_id, status=current.value, target=target.value,
        )
