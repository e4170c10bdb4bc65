"""The Lambda handlers refuse malformed events before touching S3 or MLflow."""

import importlib.util
from pathlib import Path

import pytest

from p300_aws.errors import BadEventError

FUNCTIONS = Path(__file__).parents[3] / "functions"


def load_handler(name: str):
    path = FUNCTIONS / name / "handler.py"
    spec = importlib.util.spec_from_file_location(f"handler_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def lambda_environment(monkeypatch):
    # What the Lambda runtime sets; the endpoint is a closed port: nothing may be called.
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
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
