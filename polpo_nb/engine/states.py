"""The task state machine of ARCHITECTURE.md §3, as one table.

Every status change in the engine goes through `check_transition`; an arrow missing here is a bug or
an illegal request (retry of a task that is not failed, approval of a task not awaiting one) and is
refused with IllegalTransitionError (HTTP 409).
"""

from __future__ import annotations

from ..errors import IllegalTransitionError
from ..spec import TaskStatus as S

#: to-status -> the from-statuses that may reach it, with why.
TRANSITIONS: dict[tuple[S, S], str] = {
    (S.DRAFT, S.PENDING): "queued by a mission run or execute",
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
    (S.FAILED, S.PENDING): "retry",
    (S.DONE, S.REVIEW): "reassess",
    (S.FAILED, S.REVIEW): "reassess",
    (S.ASSIGNED, S.PENDING): "requeued after a crash",
    (S.REVIEW, S.PENDING): "requeued after a crash",
}

#: A new execution of a mission (or a standalone task) starts its tasks afresh from any resting state.
RESTART_FROM = frozenset({S.DRAFT, S.PENDING, S.DONE, S.FAILED})


def check_transition(task_id: str, current: S, target: S) -> None:
    if (current, target) not in TRANSITIONS:
        allowed = sorted(t.value for (f, t) in TRANSITIONS if f == current)
        raise IllegalTransitionError(
            f"Task {task_id}: cannot go from {current.value} to {target.value}"
            f" (from {current.value} it can go to: {', '.join(allowed) or 'nothing'})",
            taskId=task_id, status=current.value, target=target.value,
        )
