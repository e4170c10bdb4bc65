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


@pytest.mark.parametrize(
    ("function", "event", "match"),
    [
        ("ingest", {"bucket": "elsewhere", "key": "x.parquet"}, "ingest event must be"),
        ("plan_ingest", {"detail-type": "Object Created"}, "must be an EventBridge S3 event"),
        ("preprocess", {"bucket": "p300-landing-zone", "key": "k"}, "must carry 'raw_key'"),
        ("train", {"training_subjects_percentage": 150}, r"in \(0, 100\)"),
    ],
)
def test_handler_rejects_a_malformed_event(function, event, match):
    handler = load_handler(function)
    with pytest.raises(BadEventError, match=match):
        handler.lambda_handler(event, None)
