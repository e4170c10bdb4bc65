"""The Lambda handlers: malformed events refused before touching S3 or MLflow; the success
paths that need neither, on recorded events (the others: tests/integration/test_handlers.py)."""

import json

import pytest

from p300_aws.errors import BadEventError
from tests.fixtures import load_event, load_handler


@pytest.fixture(autouse=True)
def lambda_environment(monkeypatch):
    # What the Lambda runtime sets; the endpoint is a closed port: nothing may be called.
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    monkeypatch.setenv("ALERTS_TOPIC_ARN", "arn:aws:sns:us-east-1:000000000000:closed")


@pytest.mark.parametrize(
    ("function", "event", "match"),
    [
        ("ingest", {"bucket": "elsewhere", "key": "x.parquet"},
         "IngestEvent: bucket: Input should be 'p300-landing-zone', got 'elsewhere'"),
        ("plan_ingest", {"detail-type": "Object Created"},
         "PlanEvent: s3_event.source: Field required"),
        ("preprocess", {"bucket": "p300-landing-zone", "key": "k"},
         "PreprocessRequest: raw_key: Field required"),
        ("train", {"training_subjects_percentage": 150},
         "TrainEvent: train.training_subjects_percentage: Input should be less than 100, got 150"),
        ("check_drift", {"outcome": "processed"}, "DriftCheckRequest: subject: Field required"),
    ],
)  # fmt: skip
def test_handler_rejects_a_malformed_event(function, event, match):
    handler = load_handler(function)
    with pytest.raises(BadEventError, match=match):
        handler.lambda_handler(event, None)


def test_plan_answers_a_recorded_s3_event_with_its_one_object():
    plan = load_handler("plan_ingest").lambda_handler(load_event("s3_object_created"), None)
    assert plan == {
        "items": [{"bucket": "p300-landing-zone",
                   "key": "subject_07/session_02/morning run (v2).parquet",
                   "study_versions": None}],
        "mode": "event",
    }  # fmt: skip


def test_plan_summarizes_a_recorded_execution_by_outcome():
    event = load_event("plan_summarize")
    output = load_handler("plan_ingest").lambda_handler(event, None)
    assert [e["subject"] for e in output["processed"]] == ["07"]
    assert output["quarantined"] == [
        {"study": None, "subject": "08", "session": "01",
         "key": "subject_08/session_01/flat.parquet", "reason": "NO_TARGETS"}
    ]  # fmt: skip
    assert output["failed"][0]["reason"].startswith("TransientError: ")
    assert (output["mode"], output["skipped"], output["results"]) == ("event", [], event["results"])


def test_check_drift_passes_unchanged_features_through_without_a_check():
    event = load_event("check_drift_skipped")
    output = load_handler("check_drift").lambda_handler(event, None)
    assert output == event | {"drift": {"status": "skipped", "reason": "features skipped, not new"}}


def test_the_upload_function_answers_a_recorded_request_with_a_presigned_put():
    response = load_handler("upload_url").lambda_handler(load_event("upload_single"), None)
    assert response["statusCode"] == 200
    document = json.loads(response["body"])
    assert document["key"].startswith("subject_03/session_01/recording-")
    assert document["url"].startswith("http://127.0.0.1:9/p300-landing-zone/subject_03/")
    assert "X-Amz-Signature=" in document["url"]
