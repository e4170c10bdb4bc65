"""Tests for decoding the attended item from per-flash scores."""

import json

import numpy as np
import pytest

from p300.decoding import (
    count_repetitions,
    item_accuracy_by_repetition,
    rank_items,
    speller_groups,
)

GROUPS = speller_groups()


def simulate_trials(candidate_sets, targets, *, n_repetitions, noise, seed):
    """Flash every set once per repetition in random order; target flashes score 1 + noise.

    Returns scores (n_flashes,), flashed sets, trial ids and repetition numbers.
    """
    rng = np.random.default_rng(seed)
    scores, flashed, trials, repetitions = [], [], [], []
    for trial, target in enumerate(targets):
        for repetition in range(1, n_repetitions + 1):
            for k in rng.permutation(len(candidate_sets)):
                shown = candidate_sets[k]
                hit = target in (shown if isinstance(shown, frozenset) else {shown})
                scores.append(float(hit) + rng.normal(0.0, noise))
                flashed.append(shown)
                trials.append(trial)
                repetitions.append(repetition)
    return np.array(scores), flashed, np.array(trials), np.array(repetitions)


def test_speller_groups_are_rows_then_columns_of_the_6x6_matrix():
    assert len(GROUPS) == 12
    assert GROUPS[0] == frozenset(range(6))
    assert GROUPS[6] == frozenset({0, 6, 12, 18, 24, 30})
    assert all(len(g) == 6 for g in GROUPS)
    for item in range(36):
        assert sum(item in g for g in GROUPS) == 2  # one row and one column


def test_speller_groups_reject_bad_size():
    with pytest.raises(ValueError, match="n_cols must be a positive integer; got 0"):
        speller_groups(n_rows=6, n_cols=0)


def test_rank_items_sums_scores_over_flashes_containing_each_item():
    ranking = rank_items([2.0, -1.0, 0.5], [{1, 2}, {2, 3}, 3])
    assert ranking.items == (1, 2, 3)
    np.testing.assert_allclose(ranking.evidence, [2.0, 1.0, -0.5])
    np.testing.assert_array_equal(ranking.n_flashes, [1, 2, 2])
    assert ranking.best == 1


def test_rank_items_mean_aggregate_and_unflashed_candidates():
    ranking = rank_items(
        [2.0, -1.0, 0.5], [{1, 2}, {2, 3}, 3], candidates=[3, 2, 9], aggregate="mean"
    )
    assert ranking.items == (2, 3, 9)
    np.testing.assert_allclose(ranking.evidence, [0.5, -0.25, -np.inf])


@pytest.mark.parametrize("target", [0, 14, 35])
def test_speller_decoding_recovers_the_target(target):
    scores, flashed, _, _ = simulate_trials(GROUPS, [target], n_repetitions=8, noise=0.5, seed=1)
    ranking = rank_items(scores, flashed, candidates=range(36))
    assert ranking.best == target
    assert ranking.n_flashes[0] == 16  # its row and its column, 8 times each


def test_birthdate_fields_decode_separately_from_one_oddball_sequence():
    days = list(range(1, 32))
    months = [100 + m for m in range(1, 13)]  # coded apart from days in this sequence
    years = list(range(1950, 2011))
    candidates = days + months + years
    rng = np.random.default_rng(4)
    flashed = [int(x) for x in np.tile(candidates, 10)]
    birthdate = {17, 103, 1987}
    scores = np.array([float(x in birthdate) for x in flashed]) + rng.normal(0, 0.6, len(flashed))
    decoded = [
        rank_items(scores, flashed, candidates=field).best for field in (days, months, years)
    ]
    assert decoded == [17, 103, 1987]


def test_accuracy_grows_with_repetitions():
    targets = list(range(36)) * 2
    scores, flashed, trials, repetitions = simulate_trials(
        GROUPS, targets, n_repetitions=10, noise=0.8, seed=2
    )
    curve = item_accuracy_by_repetition(
        scores,
        flashed,
        trials=trials,
        repetitions=repetitions,
        true_items=dict(enumerate(targets)),
        candidates=range(36),
    )
    np.testing.assert_array_equal(curve.n_repetitions, np.arange(1, 11))
    assert curve.n_trials == 72
    assert curve.accuracy[0] < 0.5 < curve.accuracy[4]
    assert curve.accuracy[-1] > 0.9
    assert curve.accuracy[-1] > curve.accuracy[0] + 0.3
    assert json.loads(json.dumps(curve.to_dict()))["n_trials"] == 72


def test_accuracy_by_repetition_matches_rank_items_on_each_prefix():
    scores, flashed, trials, repetitions = simulate_trials(
        list(range(1, 13)), [5], n_repetitions=4, noise=1.5, seed=3
    )
    curve = item_accuracy_by_repetition(
        scores, flashed, trials=trials, repetitions=repetitions, true_items={0: 5}
    )
    for r, accuracy in zip(curve.n_repetitions, curve.accuracy, strict=True):
        used = repetitions <= r
        best = rank_items(scores[used], [f for f, u in zip(flashed, used, strict=True) if u]).best
        assert accuracy == float(best == 5)


def test_count_repetitions_per_trial_and_item_set():
    flashed = [1, 2, {1}, 2, 1, frozenset({3, 4}), {4, 3}]
    trials = [0, 0, 0, 0, 1, 1, 1]
    np.testing.assert_array_equal(count_repetitions(flashed, trials=trials), [1, 1, 2, 2, 1, 1, 2])
    np.testing.assert_array_equal(count_repetitions([7, 7, 7]), [1, 2, 3])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: rank_items([1.0, 2.0], [1]),
            r"scores must be shape \(n_flashes,\) .* got shape \(2,\)",
        ),
        (lambda: rank_items([np.nan], [1]), "scores must be finite"),
        (
            lambda: rank_items([1.0], [1], aggregate="max"),
            "aggregate must be 'sum' or 'mean'; got 'max'",
        ),
        (lambda: rank_items([1.0], [1], candidates=[]), "candidates must name at least one item"),
        (lambda: rank_items([], []), "flashed_items must show at least one item"),
        (lambda: count_repetitions([1, 2], trials=[0]), r"one entry per flash \(2\); got 1"),
        (
            lambda: item_accuracy_by_repetition(
                [1.0], [1], trials=[0], repetitions=[0], true_items={0: 1}
            ),
            "repetitions must be ≥ 1",
        ),
        (
            lambda: item_accuracy_by_repetition(
                [1.0], [1], trials=[3], repetitions=[1], true_items={}
            ),
            r"true_items has no entry for trials \[3\]",
        ),
    ],
)
def test_bad_input_is_rejected(call, message):
    with pytest.raises(ValueError, match=message):
        call()
