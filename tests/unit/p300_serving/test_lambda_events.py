"""The app through Mangum with recorded API Gateway REST proxy events, as Lambda runs it."""

import base64
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from mangum import Mangum

from p300_serving import binary
from p300_serving.app import create_app

HANDLER = Path(__file__).parents[3] / "functions" / "predict" / "handler.py"


class LambdaContext:
    function_name = "p300-predict"
    aws_request_id = "5d4c7a0e-3b8f-4f0e-8a8e-2f5d0c9b7e61"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@pytest.fixture(scope="module")
def invoke(served):
    handler = Mangum(create_app(served, root_path="/prod"), lifespan="off")
    return lambda event: handler(event, LambdaContext())


def json_body(response: dict) -> dict:
    return json.loads(response["body"])


def test_get_health_and_model(gateway_event, invoke):
    health = invoke(gateway_event("get_health.json"))
    assert health["statusCode"] == 200
    assert json_body(health)["model"]["alias"] == "champion"
    described = json_body(invoke(gateway_event("get_model.json")))
    assert described["features_schema"]["n_features"] == 1120


def test_docs_point_at_the_openapi_next_to_them(gateway_event, invoke):
    docs = invoke(gateway_event("get_docs.json"))
    assert docs["statusCode"] == 200
    assert "'openapi.json'" in docs["body"]  # relative: next to /docs under any prefix
    document = json_body(invoke(gateway_event("get_openapi.json")))
    assert document["servers"] == [{"url": "../prod"}]  # /prod/openapi.json → /prod
    assert {"/predict", "/predict/raw", "/decode", "/health", "/model"} <= set(document["paths"])


def test_post_predict(gateway_event, invoke, pipeline, training):
    features = training[0][:200]
    body = json.dumps({"features": features.tolist()})
    response = invoke(gateway_event("post_predict.json", body))
    assert response["statusCode"] == 200
    assert json_body(response)["labels"] == pipeline.predict(features).tolist()


def test_post_predict_base64_encoded_event_body(gateway_event, invoke, pipeline, training):
    features = training[0][:10]
    body = json.dumps({"features": features.tolist()})
    event = gateway_event("post_predict.json", body)
    event["body"], event["isBase64Encoded"] = base64.b64encode(body.encode()).decode(), True
    response = invoke(event)
    assert response["statusCode"] == 200
    assert json_body(response)["labels"] == pipeline.predict(features).tolist()


def test_post_predict_binary_event_body(gateway_event, invoke, pipeline, training):
    """API Gateway hands a binary media type to Lambda base64-encoded, headers kept."""
    features = training[0][:10]
    event = gateway_event("post_predict.json")
    event["body"] = base64.b64encode(binary.encode_batch(features)).decode()
    event["isBase64Encoded"] = True
    event["headers"] = {**event["headers"], **binary.binary_headers(features.shape)}
    event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
    response = invoke(event)
    assert response["statusCode"] == 200
    assert json_body(response)["labels"] == pipeline.predict(features).tolist()


def test_post_predict_raw_and_decode(gateway_event, invoke, raw_window):
    raw = invoke(gateway_event("post_predict_raw.json", json.dumps(raw_window)))
    assert raw["statusCode"] == 200
    epochs = json_body(raw)["epochs"]
    assert epochs and all(0.0 <= e["target_probability"] <= 1.0 for e in epochs)
    decoded = invoke(gateway_event("post_decode.json", json.dumps({"raw": raw_window})))
    assert decoded["statusCode"] == 200
    assert json_body(decoded)["n_flashes_used"] == len(epochs)
    assert json_body(decoded)["best"] in {e["stim_item"] for e in epochs}


@pytest.mark.parametrize(
    ("event", "status", "detail"),
    [
        ("post_predict_malformed.json", 400, "malformed JSON body: Invalid JSON: EOF"),
        ("post_predict_wrong_length.json", 422, "must have 1120 values per epoch"),
    ],
)
def test_recorded_bad_requests(gateway_event, invoke, event, status, detail):
    response = invoke(gateway_event(event))
    assert response["statusCode"] == status
    assert detail in json_body(response)["detail"]


def test_body_over_the_limit_without_content_length_is_413(gateway_event, served):
    handler = Mangum(create_app(served, max_body_bytes=1_000), lifespan="off")
    event = gateway_event("post_predict.json", json.dumps({"features": [[0.0] * 1120]}))
    del event["headers"]["Content-Length"], event["multiValueHeaders"]["Content-Length"]
    response = handler(event, LambdaContext())
    assert response["statusCode"] == 413
    assert json_body(response)["detail"] == (
        "request body must be at most 1000 bytes, got more than 1000"
    )


def _import_handler():
    spec = importlib.util.spec_from_file_location("predict_handler_under_test", HANDLER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_lambda_handler_loads_the_bundle_from_the_environment(
    gateway_event, monkeypatch, bundle_dir, training
):
    monkeypatch.setenv("P300_MODEL_BUNDLE", str(bundle_dir))
    monkeypatch.setenv("P300_API_ROOT_PATH", "/prod")
    handler = _import_handler()
    body = json.dumps({"features": np.asarray(training[0][:3]).tolist()})
    response = handler.lambda_handler(gateway_event("post_predict.json", body), LambdaContext())
    assert response["statusCode"] == 200
    assert json_body(response)["model"]["version"] == "3"


def test_the_lambda_handler_without_a_bundle_answers_503(gateway_event, monkeypatch):
    monkeypatch.delenv("P300_MODEL_BUNDLE", raising=False)
    handler = _import_handler()
    response = handler.lambda_handler(gateway_event("get_model.json"), LambdaContext())
    assert response["statusCode"] == 503
    assert "P300_MODEL_BUNDLE is not set" in json_body(response)["detail"]
