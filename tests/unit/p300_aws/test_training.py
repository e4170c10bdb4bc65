import hashlib

import numpy as np
import pytest

from p300.evaluation import fit_and_evaluate
from p300.features_io import FeaturesSchemaInfo, TrainingSet
from p300_aws.errors import BadEventError
from p300_aws.mlflow_tracking import json_bytes
from p300_aws.names import FEATURES_BUCKET
from p300_aws.training import (
    FeaturesObject,
    TrainRequest,
    dataset_manifest,
    features_by_subject,
    run_metrics,
)


def test_train_request_from_the_contract_event():
    event = {"training_subjects_percentage": 50, "subjects": None,
             "auto_set_challenger_alias": True, "model_name": "lda", "model_params": {},
             "seed": 42}  # fmt: skip
    assert TrainRequest.from_event(event) == TrainRequest(
        training_subjects_percentage=50, auto_set_challenger_alias=True
    )


def test_train_request_with_named_subjects():
    request = TrainRequest.from_event({"subjects": ["01", "02"], "model_name": "xdawn-riemann"})
    assert (request.subjects, request.model_name) == (("01", "02"), "xdawn-riemann")


@pytest.mark.parametrize(
    ("event", "match"),
    [
        ({}, "exactly one of training_subjects_percentage or subjects"),
        ({"training_subjects_percentage": 50, "subjects": ["01"]}, "exactly one of"),
        ({"training_subjects_percentage": 100}, r"in \(0, 100\), got 100"),
        ({"training_subjects_percentage": "50"}, r"in \(0, 100\), got '50'"),
        ({"subjects": "01"}, "subjects must be a list of subject ids, got '01'"),
        ({"subjects": ["01"], "model_name": "svm"}, "model_name must be one of"),
        ({"subjects": ["01"], "percent": 5}, r"got \['percent'\]"),
    ],
)
def test_train_request_rejects(event, match):
    with pytest.raises(BadEventError, match=match):
        TrainRequest.from_event(event)


def _object(subject: str, session: str, body: bytes) -> FeaturesObject:
    key = f"subject={subject}/session={session}/features.parquet"
    return FeaturesObject(key, f"v-{subject}", hashlib.sha256(body).hexdigest(), subject,
                          session, body)  # fmt: skip


def test_manifest_lists_every_object_by_key_and_its_hash_is_stable():
    objects = [_object("02", "01", b"b"), _object("01", "02", b"a"), _object("01", "01", b"c")]
    manifest = dataset_manifest(objects)
    assert [o["key"] for o in manifest["objects"]] == [
        "subject=01/session=01/features.parquet",
        "subject=01/session=02/features.parquet",
        "subject=02/session=01/features.parquet",
    ]
    assert manifest["objects"][0] == {
        "bucket": FEATURES_BUCKET, "key": "subject=01/session=01/features.parquet",
        "version_id": "v-01", "sha256": hashlib.sha256(b"c").hexdigest(), "subject": "01",
        "session": "01",
    }  # fmt: skip
    assert json_bytes(manifest) == json_bytes(dataset_manifest(objects[::-1]))


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
