"""Per-subject calibration: nested model choice, MOABB-style evaluation, clear refusals."""

import dataclasses

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from p300.calibration import (
    CANDIDATES,
    ONE_CLASS,
    TOO_FEW_EPOCHS,
    CalibrationError,
    calibrate,
    calibration_data,
)
from p300.decoding import speller_groups
from p300.evaluation import information_transfer_rate, wolpaw_bits
from p300.preprocessing import PreprocessingParams, preprocess
from p300.synthetic import make_session

PARAMS = PreprocessingParams(rejection="robust")
GROUPS = speller_groups()
SOA_S = 0.25


@pytest.fixture(scope="module")
def recording():
    return make_session(seed=5, n_channels=8, sfreq=256.0, duration_s=150)


@pytest.fixture(scope="module")
def features(recording):
    return preprocess(recording, PARAMS)


@pytest.fixture(scope="module")
def two_sessions(recording):
    """The recording's two halves, preprocessed as sessions '01' and '02'."""
    half = recording.n_times // 2
    halves = {}
    for session, part in (("01", slice(0, half)), ("02", slice(half, recording.n_times))):
        cut = dataclasses.replace(
            recording,
            data=recording.data[:, part],
            stim=recording.stim[part],
            stim_item=recording.stim_item[part],
            session=session,
        )
        halves[session] = preprocess(cut, PARAMS)
    return halves


@pytest.fixture(scope="module")
def within(features):
    data = calibration_data({"01": features}, groups=GROUPS, seconds_per_flash=SOA_S)
    return data, calibrate(data)


def test_one_session_is_evaluated_by_folds_that_keep_characters_whole(within, features):
    data, result = within
    evaluation = result.evaluation
    assert evaluation.scheme == "within-session"
    assert evaluation.description.startswith("stratified 5-fold, each of ")
    assert evaluation.metrics.n_epochs == len(features.labels) == result.n_epochs
    assert 0.7 < evaluation.roc_auc < 1.0 and len(evaluation.fold_roc_auc) == 5
    assert evaluation.roc_auc == pytest.approx(np.mean(evaluation.fold_roc_auc))
    # Each epoch was scored by a model fitted without it: the final model, fitted on every
    # epoch, does better on them than the evaluation says.
    in_sample = roc_auc_score(data.y, result.model.decision_function(data.X))
    assert in_sample > evaluation.roc_auc
    assert len(evaluation.fold_models) == 5 and set(evaluation.fold_models) <= set(CANDIDATES)


def test_the_choice_is_made_by_inner_cross_validation_and_explained(within):
    _, result = within
    selection = result.selection
    assert set(selection.scores) == set(CANDIDATES)
    assert selection.scores[result.model_name] == max(selection.scores.values())
    assert selection.reason.startswith(f"{result.model_name}: best inner 3-fold ROC-AUC ")
    assert result.model.steps[-1][0] in {"lda", "logreg", "mdm"}
    assert result.summary()["selection"]["reason"] == selection.reason


def test_character_accuracy_and_bit_rate_by_repetitions(within):
    data, result = within
    accuracy = result.evaluation.item_accuracy
    assert accuracy.n_trials == len(set(data.trials.tolist()))
    assert accuracy.n_repetitions.tolist() == list(range(1, 9))
    assert accuracy.accuracy[-1] >= accuracy.accuracy[0] and accuracy.accuracy[-1] >= 0.5
    itr = result.evaluation.itr_bits_per_minute
    seconds = 8 * 12 * SOA_S
    assert itr[-1] == pytest.approx(information_transfer_rate(36, accuracy.accuracy[-1], seconds))


def test_later_session_is_scored_by_the_model_fitted_on_the_earlier(two_sessions):
    data = calibration_data(two_sessions, groups=GROUPS)
    result = calibrate(data, candidates=("lda", "xdawn-riemann"))
    evaluation = result.evaluation
    assert (evaluation.scheme, evaluation.train_sessions, evaluation.test_sessions) == (
        "cross-session",
        ("01",),
        ("02",),
    )
    later = two_sessions["02"]
    assert evaluation.metrics.n_epochs == len(later.labels)
    held_out = roc_auc_score(later.labels, result.model.decision_function(later.features))
    assert evaluation.roc_auc == pytest.approx(held_out) == evaluation.metrics.roc_auc
    assert evaluation.fold_roc_auc == (evaluation.roc_auc,)
    assert evaluation.item_accuracy is not None and evaluation.itr_bits_per_minute is None


def test_a_single_candidate_is_fitted_without_a_choice(features):
    data = calibration_data({"01": features})
    result = calibrate(data, candidates=["lda"], n_folds=3)
    assert result.selection.scores == {}
    assert result.selection.reason == "lda: the only candidate"
    assert result.evaluation.fold_models == ("lda",) * 3


def test_without_trials_the_folds_are_moabbs(features):
    data = dataclasses.replace(calibration_data({"01": features}), trials=None)
    result = calibrate(data, candidates=["lda"], n_folds=3)
    assert result.evaluation.description == "stratified 3-fold over epochs (MOABB within-session)"
    assert result.evaluation.item_accuracy is None


def test_flashes_without_items_have_no_trials(features):
    no_items = dataclasses.replace(features, metadata=features.metadata.assign(stim_item=-1))
    assert calibration_data({"01": no_items}).trials is None


def test_one_class_is_refused_with_its_counts(features):
    data = calibration_data({"01": features})
    only_nontargets = data.subset(data.y == 0)
    with pytest.raises(CalibrationError, match=r"ONE_CLASS: calibration epochs must hold") as error:
        calibrate(only_nontargets)
    assert error.value.code == ONE_CLASS
    assert f"got 0 target and {len(only_nontargets.y)} non-target" in str(error.value)


def test_a_later_session_without_targets_is_refused(two_sessions):
    data = calibration_data(two_sessions)
    keep = (data.sessions == "01") | (data.y == 0)
    with pytest.raises(CalibrationError, match=r"held-out session '02' must hold target"):
        calibrate(data.subset(keep), candidates=["lda"])


def test_too_few_epochs_for_the_folds_names_the_counts(features):
    data = calibration_data({"01": features})
    few = data.subset(
        np.isin(np.arange(len(data.y)), np.flatnonzero(data.y == 1)[:4]) | (data.y == 0)
    )
    with pytest.raises(
        CalibrationError,
        match=r"TOO_FEW_EPOCHS: too few epochs for 5-fold cross-validation: 4 target and \d+ "
        r"non-target; need at least 5 of each",
    ) as error:
        calibrate(few)
    assert error.value.code == TOO_FEW_EPOCHS


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"candidates": ["svm"]}, r"candidates must be a non-empty selection of \['lda'"),
        ({"candidates": []}, "candidates must be a non-empty selection"),
        ({"n_folds": 1}, "n_folds must be an integer >= 2, got 1"),
        ({"inner_folds": 1.5}, "inner_folds must be an integer >= 2, got 1.5"),
    ],
)
def test_bad_options_are_refused(features, options, message):
    with pytest.raises(ValueError, match=message):
        calibrate(calibration_data({"01": features}), **options)


def test_sessions_must_match_and_trials_cover_every_flash(features, two_sessions):
    other_montage = preprocess(make_session(seed=1, n_channels=4, sfreq=256.0, duration_s=20))
    with pytest.raises(ValueError, match="sessions must share channels and feature size"):
        calibration_data({"01": features, "02": other_montage})
    with pytest.raises(ValueError, match=r"trials_by_session\['01'\] must have one entry per"):
        calibration_data({"01": features}, trials_by_session={"01": np.zeros(3)})


@pytest.mark.parametrize(
    ("n_items", "accuracy", "bits"),
    [(2, 1.0, 1.0), (36, 1 / 36, 0.0), (36, 0.0, 0.0), (4, 0.5, 2 + 0.5 * np.log2(0.5 / 6))],
)
def test_wolpaw_bits(n_items, accuracy, bits):
    assert wolpaw_bits(n_items, accuracy) == pytest.approx(bits)
    assert information_transfer_rate(n_items, accuracy, 30.0) == pytest.approx(2 * bits)
