"""Rejection policies: none, System A's fixed threshold, the robust per-recording threshold."""

import dataclasses

import numpy as np
import pytest

from p300.preprocessing import PreprocessingParams, preprocess
from p300.raw_io import read_recording
from p300.rejection import (
    ALL_EPOCHS_REJECTED,
    LOW_KEPT_SHARE,
    MIN_KEPT_SHARE,
    MIN_ROBUST_EPOCHS,
    ONE_CLASS_LEFT,
    UnusableRecordingError,
    amplitude_reasons,
    assess_kept,
    check_usable,
    robust_thresholds,
)
from p300.synthetic import make_session
from p300.types import STIM_TARGET
from tests.real_data import real_file
from tests.unit.p300.test_preprocessing import assert_same_result

FIXED = PreprocessingParams()
NONE = PreprocessingParams(rejection="none")
ROBUST = PreprocessingParams(rejection="robust")
CHANNELS = ("Cz", "Pz")


@pytest.fixture(scope="module")
def session():
    return make_session(seed=3, n_channels=6, sfreq=256.0, duration_s=90)


def with_artefacts(recording, flashes, amplitude_uv=400.0):
    """``recording`` with a 0.2 s bump of ``amplitude_uv`` µV on every channel 0.2 s after
    each flash of ``flashes`` (indices into its onsets)."""
    data = recording.data.copy()
    width = int(0.2 * recording.sfreq)
    bump = amplitude_uv * np.hanning(width)
    for onset in recording.onsets[flashes]:
        start = onset + width
        data[:, start : start + width] += bump
    return dataclasses.replace(recording, data=data)


def test_policy_spellings_normalise_and_round_trip():
    assert PreprocessingParams(reject_peak_to_peak_uv=None).rejection == "none"
    assert NONE.reject_peak_to_peak_uv is None
    assert ROBUST.reject_peak_to_peak_uv is None
    assert PreprocessingParams(rejection="fixed", reject_robust_k=2.0).reject_robust_k == 5.0
    for params in (FIXED, NONE, ROBUST, PreprocessingParams(rejection="robust", reject_robust_k=3)):
        assert PreprocessingParams(**params.to_dict()) == params


def test_only_the_robust_policy_adds_fields_so_older_digests_stay_valid():
    assert "rejection" not in FIXED.to_dict() and "rejection" not in NONE.to_dict()
    assert NONE.to_dict()["reject_peak_to_peak_uv"] is None
    assert ROBUST.to_dict() == {
        **NONE.to_dict(),
        "rejection": "robust",
        "reject_robust_k": 5.0,
    }
    assert len({FIXED.hash(), NONE.hash(), ROBUST.hash()}) == 3
    assert ROBUST.hash() != PreprocessingParams(rejection="robust", reject_robust_k=4).hash()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"rejection": "autoreject"}, r"rejection must be one of \('none', 'fixed', 'robust'\)"),
        ({"reject_robust_k": 0}, "reject_robust_k must be a number > 0, got 0"),
    ],
)
def test_bad_policies_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        PreprocessingParams(**changes)


def test_robust_threshold_is_median_plus_k_robust_sd_of_log_ptp():
    ptp = np.array([[1.0, 10.0], [2.0, 10.0], [4.0, 10.0], [8.0, 10.0], [16.0, 10.0]])
    # log2 values 0..4: median 2 (4 µV), MAD 1 (×ln 2). A constant channel has MAD 0: its spread
    # is floored at 0.1, so its threshold is not its median.
    expected = [4.0 * 2.0 ** (1.4826 * 3.0), 10.0 * np.exp(3.0 * 0.1)]
    np.testing.assert_allclose(robust_thresholds(ptp, k=3.0), expected)


def test_robust_threshold_ignores_gain():
    ptp = np.random.default_rng(0).lognormal(3.0, 0.4, (200, 3))
    np.testing.assert_allclose(robust_thresholds(3 * ptp, k=5), 3 * robust_thresholds(ptp, k=5))


def test_each_policy_names_itself_in_its_reasons():
    ptp = np.random.default_rng(1).lognormal(np.log(20.0), 0.3, (MIN_ROBUST_EPOCHS, 2))
    ptp[-1] = [500.0, 21.0]
    assert amplitude_reasons(ptp, CHANNELS, NONE) == [""] * len(ptp)
    assert amplitude_reasons(ptp, CHANNELS, FIXED)[-1] == "peak_to_peak>100uV on Cz"
    robust = amplitude_reasons(ptp, CHANNELS, ROBUST)
    assert robust[:-1] == [""] * (len(ptp) - 1)
    assert robust[-1].startswith("robust: peak_to_peak on Cz>") and "Pz" not in robust[-1]


def test_robust_policy_keeps_everything_below_its_minimum_of_epochs():
    ptp = np.full((MIN_ROBUST_EPOCHS - 1, 2), 20.0)
    ptp[0] = 1e4
    assert amplitude_reasons(ptp, CHANNELS, ROBUST) == [""] * len(ptp)


@pytest.mark.parametrize("params", [NONE, ROBUST], ids=["none", "robust"])
def test_fast_equals_reference_for_each_new_policy(session, params):
    spoiled = with_artefacts(session, np.arange(0, len(session.onsets), 17))
    fast, reference = preprocess(spoiled, params), preprocess(spoiled, params, method="reference")
    assert_same_result(fast, reference)
    assert fast.params == params.to_dict()
    expected_rejections = 0 if params is NONE else len(range(0, len(session.onsets), 17))
    assert fast.summary["n_rejected_amplitude"] >= expected_rejections
    if params is ROBUST:
        reasons = fast.metadata.loc[~fast.metadata["kept"], "reject_reason"]
        assert reasons.str.startswith("robust: peak_to_peak on ").all()


def test_fast_equals_reference_for_the_robust_policy_on_a_real_recording():
    recording = read_recording(real_file("muse_p300/visual_subject_5.parquet"))
    fast = preprocess(recording, ROBUST)
    assert_same_result(fast, preprocess(recording, ROBUST, method="reference"))
    assert 0 < fast.summary["n_rejected_amplitude"] < 0.1 * fast.summary["n_flashes"]


def test_robust_policy_keeps_the_same_epochs_at_three_times_the_gain(session):
    louder = dataclasses.replace(session, data=3 * session.data)
    fixed_kept = preprocess(louder, FIXED).summary["n_kept"]
    normal, tripled = preprocess(session, ROBUST), preprocess(louder, ROBUST)
    assert normal.metadata["kept"].equals(tripled.metadata["kept"])
    assert fixed_kept < 0.2 * normal.summary["n_kept"]


def test_a_clean_recording_is_usable_without_alert(session):
    assessment = check_usable(preprocess(session, ROBUST))
    assert assessment.code is None and assessment.usable and not assessment.alert
    assert assessment.kept_share > 0.9 and assessment.policy == "robust k=5"


def test_every_epoch_rejected_is_unusable_and_names_the_policy(session):
    features = preprocess(session, PreprocessingParams(reject_peak_to_peak_uv=1.0))
    assessment = assess_kept(features)
    assert (assessment.code, assessment.usable, assessment.alert) == (
        ALL_EPOCHS_REJECTED,
        False,
        True,
    )
    assert assessment.kept_share == 0.0
    with pytest.raises(
        UnusableRecordingError,
        match=r"ALL_EPOCHS_REJECTED: rejection policy fixed 1 µV peak-to-peak kept 0 of \d+",
    ) as caught:
        check_usable(features)
    assert caught.value.code == ALL_EPOCHS_REJECTED


def test_losing_every_target_is_unusable(session):
    targets = np.flatnonzero(session.stim[session.onsets] == STIM_TARGET)
    features = preprocess(with_artefacts(session, targets), FIXED)
    assessment = assess_kept(features)
    assert assessment.code == ONE_CLASS_LEFT and not assessment.usable
    assert assessment.n_target == 0 and assessment.n_nontarget > 0
    assert f"(the recording had {len(targets)} target" in assessment.message
    assert "rejection policy fixed 100 µV peak-to-peak" in assessment.message


def test_keeping_under_the_alert_share_is_usable_but_alerts(session):
    n_flashes = len(session.onsets)
    spoiled = with_artefacts(session, np.flatnonzero(np.arange(n_flashes) % 10 < 7))
    assessment = assess_kept(preprocess(spoiled, FIXED))
    assert assessment.code == LOW_KEPT_SHARE and assessment.usable and assessment.alert
    assert assessment.kept_share < MIN_KEPT_SHARE
    assert f"under the alert share {MIN_KEPT_SHARE:.0%}" in assessment.message
    assert assess_kept(preprocess(spoiled, FIXED), min_kept_share=0.05).code is None


def test_alert_share_must_be_a_fraction(session):
    with pytest.raises(ValueError, match="min_kept_share must be between 0 and 1, got 50"):
        assess_kept(preprocess(session, NONE), min_kept_share=50)
