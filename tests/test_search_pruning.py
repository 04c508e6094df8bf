"""The pruning rules on constructed cases (what Optuna's MedianPruner and SuccessiveHalvingPruner decide)."""

from __future__ import annotations

import pytest

from sweeplab.engine.pruning import PruneRule

KEY = ("val", "accuracy")


def test_median_prunes_below_the_median_of_reference_and_group():
    rule = PruneRule("median", KEY, maximize=True, min_epochs=1, min_trials=3,
                     reference={1: (0.5, 0.6, 0.7), 2: (0.8,)})
    # pool at epoch 1: 0.5 0.6 0.7 + 0.55 0.65 -> median 0.6
    assert rule.prune(1, [0.55, 0.65, None]) == [True, False, False]
    # epoch 2: pool 0.8 + 0.1 = 2 values < min_trials: nothing pruned
    assert rule.prune(2, [0.1, None]) == [False, False]


def test_median_waits_for_min_epochs_and_respects_direction():
    rule = PruneRule("median", ("val", "loss"), maximize=False, min_epochs=2, min_trials=1,
                     reference={1: (0.1,), 2: (0.5,)})
    assert rule.prune(1, [9.0]) == [False]  # before min_epochs
    assert rule.prune(2, [0.4, 0.9]) == [False, True]  # losses: above the median 0.5 is worse


def test_asha_rungs_and_top_fraction():
    rule = PruneRule("asha", KEY, maximize=True, min_epochs=1, reduction_factor=3)
    assert [e for e in range(1, 30) if rule.is_rung(e)] == [1, 3, 9, 27]
    rule2 = PruneRule("asha", KEY, maximize=True, min_epochs=2, reduction_factor=2)
    assert [e for e in range(1, 20) if rule2.is_rung(e)] == [2, 4, 8, 16]
    # six values at a rung, eta = 3: the best two continue
    assert rule.prune(3, [0.1, 0.9, 0.5, 0.8, 0.2, 0.3]) == [True, False, True, False, True, True]
    assert rule.prune(2, [0.1, 0.9]) == [False, False]  # not a rung


def test_asha_counts_earlier_trials_at_the_rung_and_keeps_at_least_one():
    rule = PruneRule("asha", KEY, maximize=True, min_epochs=1, reduction_factor=3,
                     reference={1: (0.95, 0.9, 0.85)})
    assert rule.prune(1, [0.8, 0.7]) == [True, True]  # 5 values: keep 1, the earlier 0.95
    assert PruneRule("asha", KEY, True).prune(1, [0.3]) == [False]


def test_non_finite_values_are_pruned_and_unknown_kind_refused():
    rule = PruneRule("median", KEY, maximize=True, min_trials=1)
    assert rule.prune(1, [float("nan"), 0.5, 0.6]) == [True, True, False]
    with pytest.raises(ValueError):
        PruneRule("hyperband", KEY, True).prune(1, [0.5])
