"""The task state machine is exactly ARCHITECTURE.md §3's table."""

from __future__ import annotations

import itertools

import pytest

from polpo_nb.engine import TRANSITIONS, check_transition
from polpo_nb.errors import IllegalTransitionError
from polpo_nb.spec import TaskStatus as S

EXPECTED = {
    (S.DRAFT, S.PENDING), (S.PENDING, S.ASSIGNED), (S.ASSIGNED, S.IN_PROGRESS), (S.IN_PROGRESS, S.REVIEW),
    (S.REVIEW, S.DONE), (S.REVIEW, S.IN_PROGRESS), (S.REVIEW, S.AWAITING_APPROVAL), (S.AWAITING_APPROVAL, S.DONE),
    (S.AWAITING_APPROVAL, S.FAILED), (S.IN_PROGRESS, S.PENDING), (S.REVIEW, S.FAILED), (S.IN_PROGRESS, S.FAILED),
    (S.ASSIGNED, S.FAILED), (S.PENDING, S.FAILED), (S.FAILED, S.PENDING), (S.DONE, S.REVIEW), (S.FAILED, S.REVIEW),
    (S.ASSIGNED, S.PENDING), (S.REVIEW, S.PENDING), (S.DONE, S.PENDING),
}


def test_table_is_the_documented_one():
    assert set(TRANSITIONS) == EXPECTED


@pytest.mark.parametrize("pair", sorted(EXPECTED))
def test_allowed_transition_passes(pair):
    check_transition("task_x", *pair)


@pytest.mark.parametrize("pair", sorted(set(itertools.permutations(S, 2)) - EXPECTED))
def test_every_other_transition_is_refused_with_the_allowed_ones(pair):
    with pytest.raises(IllegalTransitionError) as info:
        check_transition("task_x", *pair)
    assert f"from {pair[0].value} to {pair[1].value}" in info.value.message
    assert info.value.code == "CONFLICT"
