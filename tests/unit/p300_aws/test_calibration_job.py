"""The calibration job's pure parts: its event, the speller layout from raw metadata, the
characters kept, the metrics logged. (The job against S3 and MLflow: tests/integration.)"""

import dataclasses
import json

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from p300.calibration import ONE_CLASS, CalibrationError, calibrate, calibration_data
from p300.decoding import speller_groups
from p300.preprocessing import PreprocessingParams, preprocess
from p300.synthetic import make_session
from p300_aws.calibration_job import (
    CalibrateRequest,
    calibration_metrics,
    select_characters,
    speller_layout,
)
from p300_aws.errors import BadEventError
from p300_aws.events import parse_event
from p300_aws.tuning import TrainEvent

PARAMS = PreprocessingParams(rejection="robust")


@pytest.fixture(scope="module")
def session():
    """A synthetic 6 × 6 speller session of 8 channels, preprocessed."""
    recording = make_session(seed=3, n_channels=8, sfreq=256.0, duration_s=120)
    return recording, preprocess(recording, PARAMS)


def test_a_calibrate_event_is_routed_to_the_calibration_job():
    job = parse_event(TrainEvent, {"action": "calibrate", "study": "speller", "subject": "S01",
                                   "characters": [1, 3]}).root  # fmt: skip
    assert isinstance(job, CalibrateRequest)
    assert (job.characters, job.candidates, job.n_folds) == (
        (1, 3), ("lda", "xdawn-riemann", "xdawn-mdm"), 5
    )  # fmt: skip
    one = parse_event(TrainEvent, {"action": "calibrate", "study": "s", "subject": "1",
                                   "model": "lda"}).root  # fmt: skip
    assert one.candidates == ("lda",)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"study": "Bad_Name"}, r"study must be 1–64 lowercase letters.*got 'Bad_Name'"),
        ({"subject": "a/b"}, r"subject must be 1–64 letters, digits or '-'.*got 'a/b'"),
        ({"characters": [3, 1]}, r"characters must be \[first, last\] with 1 <= first <= last, "
                                 r"got \[3, 1\]"),
        ({"characters": [0, 2]}, r"characters\.0: Input should be greater than or equal to 1"),
        ({"model": "svm"}, r"model: Input should be 'auto', 'lda', 'xdawn-riemann' or "
                           r"'xdawn-mdm'"),
        ({"n_folds": 1}, r"n_folds: Input should be greater than or equal to 2"),
        ({"extra": 1}, r"extra: Extra inputs are not permitted"),
    ],
)  # fmt: skip
def test_a_bad_calibrate_event_names_the_field(change, match):
    event = {"action": "calibrate", "study": "speller", "subject": "S01"} | change
    with pytest.raises(BadEventError, match=match):
        parse_event(TrainEvent, event)


def test_the_layout_comes_from_the_raw_metadata_of_every_session(session):
    recording, features = session
    onsets = recording.onsets
    starts = onsets[[0, len(onsets) // 2]]
    metadata = {"matrix_rows": "6", "matrix_columns": "6", "sfreq": "256",
                "character_starts": json.dumps(starts.tolist())}  # fmt: skip
    groups, trials, seconds = speller_layout({"01": features}, {"01": metadata})
    assert groups == speller_groups(n_rows=6, n_cols=6)
    assert np.bincount(trials["01"]).tolist() == [len(onsets) // 2, len(onsets) - len(onsets) // 2]
    assert seconds == pytest.approx(np.median(np.diff(onsets)) / 256)


def test_without_raw_metadata_nothing_is_assumed(session):
    _, features = session
    assert speller_layout({"01": features}, {"01": {}}) == (None, None, None)
    mixed = {"01": {"matrix_rows": "6", "matrix_columns": "6"}, "02": {}}
    assert speller_layout({"01": features, "02": features}, mixed)[0] is None


@pytest.fixture(scope="module")
def data(session):
    _, features = session
    return calibration_data({"01": features}, groups=speller_groups(), seconds_per_flash=0.25)


def test_select_characters_keeps_only_those_characters(data):
    n_characters = len(set(data.trials.tolist()))
    chosen = select_characters(data, (2, 3))
    assert set(chosen.trials.tolist()) == {"01/1", "01/2"}
    assert select_characters(data, None) is data
    with pytest.raises(ValueError, match=rf"characters 40-41 hold no kept epoch; the sessions "
                                         rf"have characters 1-{n_characters}"):  # fmt: skip
        select_characters(data, (40, 41))


def test_select_characters_needs_known_characters(data):
    without = dataclasses.replace(data, trials=None)
    with pytest.raises(ValueError, match=r"the flashes' characters are unknown"):
        select_characters(without, (1, 3))


def test_one_class_is_refused_before_anything_is_fitted(data):
    targets_only = data.subset(data.y == 1)
    with pytest.raises(CalibrationError, match=rf"^{ONE_CLASS}: "):
        calibrate(targets_only)


def test_the_metrics_hold_folds_inner_scores_accuracy_and_itr_by_repetitions(data):
    with threadpool_limits(1):
        result = calibrate(select_characters(data, (1, 4)), candidates=("lda", "xdawn-mdm"),
                           n_folds=4)  # fmt: skip
    metrics = calibration_metrics(result)
    assert metrics["roc_auc"] == result.evaluation.roc_auc
    assert {f"fold_{i}_roc_auc" for i in range(4)} <= set(metrics)
    assert {"inner_roc_auc_lda", "inner_roc_auc_xdawn-mdm"} <= set(metrics)
    repetitions = result.evaluation.item_accuracy.n_repetitions
    assert (
        metrics[f"item_accuracy_r{repetitions[-1]}"] == result.evaluation.item_accuracy.accuracy[-1]
    )
    assert metrics["itr_bits_per_minute_r1"] == result.evaluation.itr_bits_per_minute[0]


def test_auto_set_alias_makes_the_first_version_champion_and_later_ones_challenger(tmp_path):
    from p300_aws.calibration_job import _alias
    from p300_aws.mlflow_tracking import MlflowTracker

    tracker = MlflowTracker(f"sqlite:///{tmp_path / 'mlflow.db'}")
    name = "P300-speller_S01"
    assert _alias(tracker, name) == "champion"  # no registered model yet
    tracker.client.create_registered_model(name)
    version = tracker.client.create_model_version(name, (tmp_path / "model").as_uri()).version
    assert _alias(tracker, name) == "champion"  # a version, but no champion
    tracker.client.set_registered_model_alias(name, "champion", version)
    assert _alias(tracker, name) == "challenger"
