"""The tiny model's bundle (tests/unit/conftest.py trains it) and the app serving it."""

import copy
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from p300.synthetic import make_session
from p300_ops.services.model_bundles import write_bundle
from p300_serving.app import create_app
from p300_serving.model import load_bundle

EVENTS = Path(__file__).parent / "events"
MODEL_NAME = "P300-Classifier"


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory, pipeline, training):
    return write_bundle(
        pipeline,
        tmp_path_factory.mktemp("bundle") / "champion",
        name=MODEL_NAME,
        version="3",
        alias="champion",
        run_id="0123456789abcdef",
        metrics={"roc_auc": 0.91, "kappa": 0.55},
        features_schema=training[2],
    )


@pytest.fixture(scope="session")
def served(bundle_dir):
    return load_bundle(bundle_dir)


@pytest.fixture(scope="session")
def client(served):
    return TestClient(create_app(served))


@pytest.fixture(scope="session")
def window_recording():
    """A 12-s session the model never saw, as a `RawRecording`."""
    return make_session(seed=7, subject="07", duration_s=12.0, bad_channel_prob=0.0)


@pytest.fixture
def raw_window(window_recording):
    """The same session as a /predict/raw request body."""
    return {
        "sfreq": window_recording.sfreq,
        "ch_names": list(window_recording.ch_names),
        "data": window_recording.data.tolist(),
        "stim": window_recording.stim.tolist(),
        "stim_item": window_recording.stim_item.tolist(),
    }


@pytest.fixture
def gateway_event():
    """`api_gateway_event`, for tests (conftest modules are not importable)."""
    return api_gateway_event


def api_gateway_event(name: str, body: str | None = None) -> dict:
    """A recorded API Gateway REST proxy event, optionally with another JSON body."""
    event = json.loads((EVENTS / name).read_text())
    if body is not None:
        event = copy.deepcopy(event)
        event["body"] = body
        length = str(len(body.encode()))
        event["headers"]["Content-Length"] = length
        event["multiValueHeaders"]["Content-Length"] = [length]
    return event
