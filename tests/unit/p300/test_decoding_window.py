"""Decoding raw windows: trials, the attended items, and flashes near the window's edges."""

import dataclasses

import numpy as np
import pytest

from p300.decoding import (
    decode_window,
    flashed_item_sets,
    speller_groups,
    split_trials,
    true_items,
)
from p300.models import make_model
from p300.preprocessing import PreprocessingParams, preprocess
from p300.synthetic import make_session

PARAMS = PreprocessingParams(rejection="none")
GROUPS = speller_groups()
#: Samples from an epoch's start to its flash, and from the flash to its end, at 256 Hz.
BEFORE, AFTER = 26, 154


@pytest.fixture(scope="module")
def session():
    return make_session(seed=1, n_channels=8, sfreq=256.0, duration_s=240)


@pytest.fixture(scope="module")
def half(session):
    """The sample where the second half starts; the model never sees a flash after it."""
    return session.n_times // 2


@pytest.fixture(scope="module")
def model(session, half):
    features = preprocess(cut(session, 0, half), PARAMS)
    return make_model("lda").fit(features.features, features.labels)


@pytest.fixture(scope="module")
def full_scores(session, model):
    """Every flash's score in the whole recording, and their standard deviation."""
    scores = model.decision_function(preprocess(session, PARAMS).features)
    return scores, scores.std()


def cut(recording, start: int, stop: int):
    return dataclasses.replace(
        recording,
        data=recording.data[:, start:stop],
        stim=recording.stim[start:stop],
        stim_item=recording.stim_item[start:stop],
    )


def test_split_trials_starts_a_trial_after_each_long_pause():
    onsets = [0, 10, 20, 30, 100, 110, 120, 400, 411]
    np.testing.assert_array_equal(split_trials(onsets), [0, 0, 0, 0, 1, 1, 1, 2, 2])
    np.testing.assert_array_equal(split_trials([5]), [0])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: split_trials([0, 10], gap_factor=1), "gap_factor must be a number > 1, got 1"),
        (lambda: split_trials([10, 5]), "onsets must be a 1-D array of increasing samples"),
        (lambda: flashed_item_sets([0, 12], GROUPS), r"groups has no entry for stim_item \[12\]"),
    ],
)
def test_bad_trial_input_is_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_the_attended_cell_is_the_one_every_target_flash_showed():
    flashed = flashed_item_sets([0, 6, 1, 7, 2, 8, 3], GROUPS)
    labels = [1, 1, 0, 0, 1, 0, 0]
    trials = [0, 0, 0, 1, 1, 2, 2]
    # Trial 0: row 0 and column 0 → cell 0. Trial 1: one target (row 2), six candidates. Trial 2
    # has no target.
    assert true_items(flashed, labels, trials) == {0: 0}
    assert flashed_item_sets([3, 4], None) == [frozenset({3}), frozenset({4})]


def test_decode_window_decodes_each_trial_of_a_synthetic_speller(session, half, model):
    window = cut(session, half, session.n_times)
    decoding = decode_window(model, window, PARAMS, groups=GROUPS)
    onsets = window.onsets
    trials = split_trials(onsets)
    labels = (window.stim[onsets] == 2).astype(int)
    truth = true_items(flashed_item_sets(window.stim_item[onsets], GROUPS), labels, trials)
    decoded = {trial: ranking.best for trial, ranking in decoding.rankings.items()}
    assert decoded.keys() == truth.keys()
    assert np.mean([decoded[t] == truth[t] for t in truth]) >= 0.8
    assert len(decoding.scores) == len(decoding.trials) == decoding.epochs.summary["n_kept"]


def test_a_flash_at_the_window_start_is_kept_and_scored_like_an_inner_one(
    session, model, full_scores
):
    scores, spread = full_scores
    onsets = session.onsets
    mirror, mne_pad = [], []
    for flash in range(20, len(onsets) - 20, 40):
        # The window starts on the first sample of this flash's epoch.
        window = cut(session, onsets[flash] - BEFORE, onsets[flash] + 3 * 256)
        decoding = decode_window(model, window, PARAMS, groups=GROUPS)
        assert decoding.epochs.metadata["kept"].iloc[0]
        mirror.append(abs(decoding.scores[0] - scores[flash]) / spread)
        mne_padded = model.decision_function(preprocess(window, PARAMS).features[:1])[0]
        mne_pad.append(abs(mne_padded - scores[flash]) / spread)
    # Typically within a tenth of the scores' spread; MNE's odd reflection errs more.
    assert np.median(mirror) < 0.15 and max(mirror) < 0.35
    assert np.median(mirror) < 0.75 * np.median(mne_pad)


def test_a_flash_whose_epoch_ends_at_the_window_end_is_kept_and_scored_like_an_inner_one(
    session, model, full_scores
):
    scores, spread = full_scores
    onsets = session.onsets
    for flash in range(20, len(onsets) - 20, 40):
        start = onsets[flash] - 3 * 256
        window = cut(session, start, onsets[flash] + AFTER + 1)
        decoding = decode_window(model, window, PARAMS, groups=GROUPS)
        metadata = decoding.epochs.metadata.set_index("onset_sample")
        # Later flashes of the window run past its end (TOO_SHORT); this one just fits.
        assert metadata.loc[onsets[flash] - start, "kept"]
        assert abs(decoding.scores[-1] - scores[flash]) / spread < 0.35


def test_decode_window_needs_items_and_one_trial_per_flash(session, model):
    with pytest.raises(ValueError, match=r"recording\.stim_item must say which item"):
        decode_window(model, dataclasses.replace(session, stim_item=None), PARAMS)
    with pytest.raises(ValueError, match=r"trials must have one entry per flash \(\d+\); got 2"):
        decode_window(model, session, PARAMS, trials=[0, 1])
