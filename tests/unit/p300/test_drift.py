"""Drift detection: reference building, KS + Bonferroni verdicts, PSI, JSON round trip."""

import numpy as np
import pytest

from p300.drift import (
    DriftReference,
    bonferroni_threshold,
    build_reference,
    check_drift,
    epoch_statistics,
    incomparability,
    ks_per_channel,
    population_stability_index,
    sample_values,
)
from p300.features_io import params_hash
from p300.preprocessing import preprocess
from tests.drift_subjects import normal_subject, scaled, with_flat_channel, with_noisy_channel

REFERENCE_SEEDS = range(1, 7)
ALPHA = 0.05


@pytest.fixture(scope="module")
def reference():
    sessions = [preprocess(normal_subject(seed)) for seed in REFERENCE_SEEDS]
    first = sessions[0]
    return build_reference(
        np.concatenate([s.epochs for s in sessions]),
        ch_names=first.ch_names,
        params_hash=params_hash(first.params),
    )


def check(reference, recording, **options):
    features = preprocess(recording)
    return check_drift(
        reference,
        features.epochs,
        ch_names=features.ch_names,
        params_hash=params_hash(features.params),
        **options,
    )


def test_normal_subjects_rarely_drift(reference):
    reports = [check(reference, normal_subject(seed), alpha=ALPHA) for seed in range(100, 120)]
    false_alarms = sum(report.drifted for report in reports)
    # alpha is the family-wise rate per subject; 20 subjects expect 1 false alarm.
    assert false_alarms <= 2, [r.drifted_channels for r in reports]
    assert all(report.max_psi < 0.25 for report in reports)


@pytest.mark.parametrize("factor", [2.0, 0.4])
def test_scaled_amplitudes_drift_on_most_channels(reference, factor):
    report = check(reference, scaled(normal_subject(200), factor))
    assert report.drifted
    assert len(report.drifted_channels) >= 8
    ratios = [c.subject_sd / c.reference_sd for c in report.channels]
    assert np.median(ratios) == pytest.approx(factor, rel=0.35)


@pytest.mark.parametrize(
    ("broken", "channel"),
    [(with_flat_channel, 3), (with_flat_channel, 14), (with_noisy_channel, 5)],
)
def test_broken_channel_drifts_and_is_named(reference, broken, channel):
    recording = normal_subject(201)
    report = check(reference, broken(recording, channel))
    assert report.drifted_channels == (recording.ch_names[channel],)
    by_name = {c.channel: c for c in report.channels}
    assert by_name[recording.ch_names[channel]].psi > 0.25


def test_report_evidence_is_json_ready(reference):
    report = check(reference, with_flat_channel(normal_subject(202), 0))
    evidence = report.to_dict()
    assert evidence["threshold"] == pytest.approx(ALPHA / 16)
    assert evidence["n_tests"] == 16
    assert evidence["sample_size"] == 200
    flat = evidence["channels"][0]
    assert flat["drifted"] and flat["p_value"] < evidence["threshold"]
    assert flat["subject_sd"] < 0.1 * flat["reference_sd"]


def test_reference_json_round_trip(reference):
    restored = DriftReference.from_json(reference.to_json())
    assert restored.ch_names == reference.ch_names
    assert restored.params_hash == reference.params_hash
    assert restored.n_epochs == reference.n_epochs
    np.testing.assert_allclose(restored.values, reference.values, atol=5e-4)
    np.testing.assert_allclose(restored.epoch_sd, reference.epoch_sd, atol=5e-4)


def test_reference_is_bounded_and_deterministic():
    rng = np.random.default_rng(0)
    epochs = rng.normal(0, 10, (3000, 4, 71)).astype(np.float32)
    options = dict(ch_names=("a", "b", "c", "d"), params_hash="h", n_values=2000)
    first, second = build_reference(epochs, **options), build_reference(epochs, **options)
    assert first.values.shape == (4, 2000)
    assert first.epoch_sd.shape == (4, 500)
    np.testing.assert_array_equal(first.values, second.values)


def test_sample_values_spreads_over_epochs_and_times():
    epochs = np.arange(2 * 3 * 5, dtype=float).reshape(2, 3, 5)  # epoch-major per channel
    sample = sample_values(epochs, size=4)
    assert sample.shape == (3, 4)
    np.testing.assert_array_equal(sample[0], [0, 2, 15, 17])


def test_epoch_statistics_shapes_and_values():
    epochs = np.stack([np.full((2, 4), 3.0), np.array([[0, 2, 0, 2], [1, 1, 1, 1.0]])])
    sd, mean = epoch_statistics(epochs)
    np.testing.assert_allclose(sd, [[0, 0], [1, 0]])
    np.testing.assert_allclose(mean, [[3, 3], [1, 1]])


@pytest.mark.parametrize(("alpha", "n_tests", "expected"), [(0.05, 16, 0.003125), (0.01, 1, 0.01)])
def test_bonferroni_threshold(alpha, n_tests, expected):
    assert bonferroni_threshold(alpha, n_tests=n_tests) == pytest.approx(expected)


def test_psi_is_zero_for_the_same_values_and_finite_for_empty_bins():
    values = np.random.default_rng(1).normal(size=5000)
    assert population_stability_index(values, values) == pytest.approx(0.0, abs=1e-12)
    shifted = population_stability_index(values, values + 10.0)
    assert np.isfinite(shifted) and shifted > 5


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"alpha": 0.0}, r"alpha must be in \(0, 1\), got 0.0"),
        ({"sample_size": 5}, "sample_size must be an integer >= 10, got 5"),
        ({"params_hash": "other"}, "params_hash must equal the reference's .* got 'other'"),
        ({"ch_names": tuple("abcd")}, "ch_names must equal the reference's"),
    ],
)
def test_check_drift_refuses_bad_options(options, match):
    epochs = np.ones((5, 4, 10))
    reference = build_reference(epochs, ch_names=("w", "x", "y", "z"), params_hash="h")
    arguments = {"ch_names": ("w", "x", "y", "z"), "params_hash": "h"} | options
    with pytest.raises(ValueError, match=match):
        check_drift(reference, epochs, **arguments)


@pytest.mark.parametrize(
    ("epochs", "match"),
    [
        (np.ones((0, 2, 5)), "at least one epoch, got 0"),
        (np.ones((3, 5)), r"shape \(n_epochs, n_channels=2, n_times > 0\), got \(3, 5\)"),
    ],
)
def test_build_reference_refuses_bad_epochs(epochs, match):
    with pytest.raises(ValueError, match=match):
        build_reference(epochs, ch_names=("a", "b"), params_hash="h")


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"format_version": 99}, "format_version 99 is newer"),
        ({"values": [[1.0]]}, r"values must have shape \(2, n > 0\), got \(1, 1\)"),
    ],
)
def test_reference_from_dict_refuses_bad_documents(change, match):
    document = build_reference(np.ones((3, 2, 4)), ch_names=("a", "b"), params_hash="h").to_dict()
    with pytest.raises(ValueError, match=match):
        DriftReference.from_dict(document | change)


def test_reference_from_dict_names_missing_keys():
    with pytest.raises(ValueError, match=r"lacks \['epoch_mean', 'epoch_sd', 'n_epochs'"):
        DriftReference.from_dict({"ch_names": ["a"], "params_hash": "h", "values": [[1.0]]})


@pytest.mark.parametrize("shift", [0.0, 0.1, 0.2, 0.3])
def test_ks_matches_scipy_statistic_exactly_and_p_value_within_a_few_percent(shift):
    from scipy import stats  # the reference implementation; the Lambda has no scipy

    rng = np.random.default_rng(7)
    reference, sample = rng.normal(size=(6, 2000)), rng.normal(loc=shift, size=(6, 200))
    statistic, p_value = ks_per_channel(reference, sample)
    expected = stats.ks_2samp(reference, sample, axis=1)
    np.testing.assert_allclose(statistic, expected.statistic, rtol=0, atol=1e-12)
    np.testing.assert_allclose(p_value, expected.pvalue, rtol=0.06, atol=1e-6)


def test_incomparability_names_another_montage_or_preprocessing():
    rng = np.random.default_rng(3)
    epochs = rng.normal(size=(40, 3, 20))
    reference = build_reference(epochs, ch_names=("Fz", "Cz", "Pz"), params_hash="abc")
    assert incomparability(reference, ch_names=("Fz", "Cz", "Pz"), params_hash="abc") is None
    assert "got ['Fz', 'Cz']" in incomparability(
        reference, ch_names=("Fz", "Cz"), params_hash="abc"
    )
    assert "params_hash must equal the reference's 'abc'" in incomparability(
        reference, ch_names=("Fz", "Cz", "Pz"), params_hash="xyz"
    )
