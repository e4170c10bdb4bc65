"""The drift check's pure pieces: events, artifact locations, metrics, alerts, the reference.

Resolving the champion in MLflow, reading S3 and publishing to CloudWatch and SNS are tested on
the local cloud (tests/integration/monitoring/test_drift_e2e.py).
"""

import numpy as np
import pytest

from p300.drift import DriftReference, check_drift
from p300.features_io import features_to_parquet_bytes, read_training_set
from p300.preprocessing import preprocess
from p300_aws.drift_check import (
    DriftCheckRequest,
    ModelReference,
    artifact_location,
    check_subject,
    drift_alert,
    metric_data,
    training_reference,
)
from p300_aws.errors import BadEventError
from p300_aws.events import parse_event
from tests.drift_subjects import normal_subject, with_flat_channel

PREPROCESS_OUTPUT = {
    "outcome": "processed",
    "study": "system-a",
    "study_version": 1,
    "subject": "07",
    "session": "01",
    "features_key": "study=system-a/subject=07/session=01/features.parquet",
    "features_version_id": "v1",
    "summary": {"n_kept": 200},
    "mlflow_run_id": "r",
}
ARTIFACTS = "p300-mlflow-artifacts"
MODEL = ModelReference("champion", "3", "run123", "mlflow-artifacts:/1/run123/artifacts")


@pytest.fixture(scope="module")
def training_set():
    sessions = [preprocess(normal_subject(seed, duration_s=30.0)) for seed in (1, 2, 3)]
    return read_training_set([features_to_parquet_bytes(session) for session in sessions])


def test_the_reference_covers_the_epochs_of_the_training_subjects(training_set):
    reference = training_reference(training_set, subjects=["001", "003"])
    assert reference.n_epochs == np.isin(training_set.subjects, ["001", "003"]).sum()
    assert 0 < reference.n_epochs < len(training_set.labels)
    assert reference.ch_names == training_set.info.ch_names
    assert reference.params_hash == training_set.info.params_hash
    assert DriftReference.from_json(reference.to_json()).values.shape == reference.values.shape


def test_the_reference_needs_training_subjects(training_set):
    with pytest.raises(ValueError, match=r"must name subjects of the training set \['001'"):
        training_reference(training_set, subjects=["999"])


def test_request_from_a_preprocess_output():
    request = parse_event(DriftCheckRequest, PREPROCESS_OUTPUT)
    assert (request.outcome, request.subject, request.session) == ("processed", "07", "01")
    assert request.features_key == "study=system-a/subject=07/session=01/features.parquet"
    assert request.features_version_id == "v1"
    # The rest of the preprocess output passes through to the check's output.
    assert request.model_dump() == PREPROCESS_OUTPUT


def test_request_names_what_the_event_lacks():
    with pytest.raises(
        BadEventError, match=r"subject: Field required; features_key: Field required"
    ):
        parse_event(DriftCheckRequest, {"outcome": "processed", "session": "01"})


def test_unchanged_features_are_not_checked():
    request = parse_event(DriftCheckRequest, PREPROCESS_OUTPUT | {"outcome": "skipped"})
    # No client is touched: None stands for S3, CloudWatch, SNS and the reference store.
    result = check_subject(None, None, None, None, request, topic_arn="arn")
    assert result.model_dump() == {"status": "skipped", "reason": "features skipped, not new"}


class _Store:
    """A reference store whose current model is ``model`` (with no reference read)."""

    def __init__(self, model: ModelReference):
        self.model = model

    def current(self):
        return self.model, None


def test_a_subject_of_another_study_is_incompatible_without_reading_anything():
    request = parse_event(DriftCheckRequest, PREPROCESS_OUTPUT | {"study": "speller"})
    result = check_subject(None, None, None, _Store(MODEL), request, topic_arn="arn")
    assert result.status == "incompatible"
    assert result.reason.startswith(
        "P300-Classifier v3 (champion) was trained on study 'system-a', the subject belongs to "
        "study 'speller'"
    )
    assert result.reference["study"] == "system-a"


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("mlflow-artifacts:/1/abc/artifacts", (ARTIFACTS, "1/abc/artifacts/d.json")),
        ("mlflow-artifacts://host:5050/1/abc/artifacts", (ARTIFACTS, "1/abc/artifacts/d.json")),
        ("s3://bucket/1/abc/artifacts", ("bucket", "1/abc/artifacts/d.json")),
        ("s3://bucket", ("bucket", "d.json")),
    ],
)  # fmt: skip
def test_artifact_location(uri, expected):
    assert artifact_location(uri, "d.json") == expected


@pytest.mark.parametrize("uri", ["file:///tmp/mlruns/1/abc", "s3:///no-bucket", "abc"])
def test_artifact_location_refuses_other_stores(uri):
    with pytest.raises(ValueError, match="artifact_uri must start with mlflow-artifacts:/ or s3"):
        artifact_location(uri, "d.json")


@pytest.mark.parametrize(("drifted", "value"), [(True, 1.0), (False, 0.0)])
def test_metric_once_without_dimensions_and_once_per_subject(drifted, value):
    plain, per_subject = metric_data(drifted, "07")
    assert plain == {"MetricName": "DriftDetected", "Value": value, "Unit": "Count"}
    assert per_subject["Dimensions"] == [{"Name": "Subject", "Value": "07"}]
    assert per_subject["Value"] == value


def test_the_alert_carries_the_verdict_and_its_evidence(training_set):
    reference = training_reference(training_set, subjects=["001", "002", "003"])
    broken = preprocess(with_flat_channel(normal_subject(50, duration_s=30.0), 3))
    report = check_drift(
        reference, broken.epochs, ch_names=broken.ch_names, params_hash=reference.params_hash
    )
    alert = drift_alert(report, parse_event(DriftCheckRequest, PREPROCESS_OUTPUT), MODEL)
    assert (alert.kind, alert.subject) == ("drift", "07")
    assert "AFz" in alert.message and "v3 (champion)" in alert.message
    evidence = alert.evidence
    assert evidence["drifted_channels"] == ["AFz"]
    assert evidence["reference_model"] == {
        "model": "P300-Classifier", "alias": "champion", "version": "3", "run_id": "run123",
        "study": "system-a",
    }  # fmt: skip
    assert evidence["threshold"] == pytest.approx(0.05 / 16)
    afz = next(channel for channel in evidence["channels"] if channel["channel"] == "AFz")
    assert afz["p_value"] < evidence["threshold"] and afz["psi"] > 0.25
    assert np.isfinite([c["ks_statistic"] for c in evidence["channels"]]).all()
