import dataclasses
import hashlib

import numpy as np
import pytest

from p300.evaluation import fit_and_evaluate
from p300.features_io import FeaturesSchemaInfo, TrainingSet, features_to_parquet_bytes
from p300.preprocessing import preprocess
from p300.synthetic import make_session
from p300_aws.errors import BadEventError
from p300_aws.events import parse_event
from p300_aws.mlflow_tracking import json_bytes
from p300_aws.names import FEATURES_BUCKET
from p300_aws.training import (
    FeaturesObject,
    TrainRequest,
    dataset_manifest,
    features_by_subject,
    run_metrics,
    select_compatible,
)


def test_train_request_from_the_contract_event():
    event = {"training_subjects_percentage": 50, "subjects": None,
             "auto_set_challenger_alias": True, "model_name": "lda", "model_params": {},
             "seed": 42}  # fmt: skip
    assert parse_event(TrainRequest, event) == TrainRequest(
        training_subjects_percentage=50, auto_set_challenger_alias=True
    )


def test_train_request_with_named_subjects():
    request = parse_event(TrainRequest, {"subjects": ["01", "02"], "model_name": "xdawn-riemann"})
    assert (request.subjects, request.model_name) == (("01", "02"), "xdawn-riemann")


@pytest.mark.parametrize(
    ("event", "match"),
    [
        ({}, "exactly one of training_subjects_percentage or subjects"),
        ({"training_subjects_percentage": 50, "subjects": ["01"]}, "exactly one of"),
        (
            {"training_subjects_percentage": 100},
            "training_subjects_percentage: Input should be less than 100, got 100",
        ),
        (
            {"training_subjects_percentage": "50"},
            "training_subjects_percentage.int: Input should be a valid integer, got '50'",
        ),
        ({"training_subjects_percentage": True}, "Input should be a valid integer, got True"),
        ({"subjects": "01"}, "subjects: Input should be a list, got '01'"),
        ({"subjects": [1]}, r"subjects.0: Input should be a valid string, got 1"),
        (
            {"subjects": ["01"], "model_name": "svm"},
            "model_name: Input should be 'lda', 'xdawn-riemann' or 'xdawn-mdm', got 'svm'",
        ),
        ({"subjects": ["01"], "seed": "7"}, "seed: Input should be a valid integer, got '7'"),
        ({"subjects": ["01"], "percent": 5}, "percent: Extra inputs are not permitted, got 5"),
    ],
)
def test_train_request_rejects(event, match):
    with pytest.raises(BadEventError, match=match):
        parse_event(TrainRequest, event)


def _object(subject: str, session: str, body: bytes) -> FeaturesObject:
    key = f"study=system-a/subject={subject}/session={session}/features.parquet"
    return FeaturesObject(key, f"v-{subject}", hashlib.sha256(body).hexdigest(), subject,
                          session, body)  # fmt: skip


def test_manifest_lists_every_object_by_key_and_its_hash_is_stable():
    objects = [_object("02", "01", b"b"), _object("01", "02", b"a"), _object("01", "01", b"c")]
    manifest = dataset_manifest(objects, study="system-a")
    assert manifest["study"] == "system-a"
    assert [o["key"] for o in manifest["objects"]] == [
        "study=system-a/subject=01/session=01/features.parquet",
        "study=system-a/subject=01/session=02/features.parquet",
        "study=system-a/subject=02/session=01/features.parquet",
    ]
    assert manifest["objects"][0] == {
        "bucket": FEATURES_BUCKET, "key": "study=system-a/subject=01/session=01/features.parquet",
        "version_id": "v-01", "sha256": hashlib.sha256(b"c").hexdigest(), "subject": "01",
        "session": "01",
    }  # fmt: skip
    assert json_bytes(manifest) == json_bytes(dataset_manifest(objects[::-1], study="system-a"))


def _training_set(n_per_subject: int = 40, subjects=("01", "02", "03")) -> TrainingSet:
    rng = np.random.default_rng(0)
    n = n_per_subject * len(subjects)
    labels = np.tile(np.r_[np.ones(8), np.zeros(n_per_subject - 8)], len(subjects)).astype(np.int8)
    features = rng.normal(size=(n, 2 * 5)).astype(np.float32) + labels[:, None]
    info = FeaturesSchemaInfo(("Cz", "Pz"), 100.0, 0.0, 0.04, 5, 10, "h", {})
    return TrainingSet(features, labels, np.repeat(np.array(subjects), n_per_subject), info)


def test_features_by_subject_splits_rows_by_subject():
    training_set = _training_set()
    split = features_by_subject(training_set)
    assert sorted(split) == ["01", "02", "03"]
    X, y = split["02"]
    assert X.shape == (40, 10) and y.shape == (40,)
    np.testing.assert_array_equal(X, training_set.features[40:80])


def test_run_metrics_names_pooled_and_per_subject_values():
    result = fit_and_evaluate(features_by_subject(_training_set()), train_subjects=["01"], seed=0)
    metrics = run_metrics(result)
    assert metrics["test_roc_auc"] == result.report.pooled.roc_auc
    assert metrics["test_03_n_epochs"] == 40
    assert metrics["n_train_epochs"] == 40
    assert {"test_02_kappa", "test_03_balanced_accuracy", "fit_s"} <= set(metrics)


def _features_bytes(subject: str, *, ch_names: tuple[str, ...]) -> bytes:
    recording = make_session(seed=int(subject), subject=subject, n_channels=4, duration_s=20.0)
    recording = dataclasses.replace(recording, ch_names=ch_names)
    return features_to_parquet_bytes(preprocess(recording))


SYSTEM_A = ("eeg_ch1", "eeg_ch2", "eeg_ch3", "eeg_ch4")
NAMED = ("Fz", "Cz", "Pz", "Oz")


def test_training_keeps_the_schema_most_subjects_share_and_names_the_others():
    objects = [
        _object(s, "01", _features_bytes(s, ch_names=SYSTEM_A)) for s in ("01", "02", "03")
    ] + [_object("04", "01", _features_bytes("04", ch_names=NAMED))]

    kept, excluded = select_compatible(objects)

    assert [o.subject for o in kept] == ["01", "02", "03"]
    assert [(e["subject"], e["key"]) for e in excluded] == [
        ("04", "study=system-a/subject=04/session=01/features.parquet")
    ]
    assert "channel names" in excluded[0]["reason"]


def test_named_training_subjects_choose_the_schema_even_when_fewer():
    objects = [
        _object(s, "01", _features_bytes(s, ch_names=SYSTEM_A)) for s in ("01", "02", "03")
    ] + [_object(s, "01", _features_bytes(s, ch_names=NAMED)) for s in ("04", "05")]

    kept, excluded = select_compatible(objects, subjects=("04",))

    assert [o.subject for o in kept] == ["04", "05"]
    assert [e["subject"] for e in excluded] == ["01", "02", "03"]


def test_named_training_subjects_preprocessed_differently_are_refused():
    objects = [
        _object("01", "01", _features_bytes("01", ch_names=SYSTEM_A)),
        _object("02", "01", _features_bytes("02", ch_names=NAMED)),
    ]
    with pytest.raises(ValueError, match=r"training subjects \['01', '02'\] were not preprocessed"):
        select_compatible(objects, subjects=("01", "02"))
