"""The prediction API through FastAPI's TestClient: every endpoint and every bad input."""

import base64
import dataclasses

import numpy as np
import pytest
from fastapi.testclient import TestClient

from p300.decoding import decode_window, rank_items, speller_groups
from p300.preprocessing import PreprocessingParams, preprocess
from p300_serving.app import create_app, create_app_from_env

N_FEATURES = 16 * 70


def b64(matrix: np.ndarray) -> str:
    return base64.b64encode(np.asarray(matrix, dtype="<f4").tobytes()).decode()


def test_predict_gives_the_pipelines_labels_and_probabilities(client, pipeline, training):
    features = training[0][:40]
    response = client.post("/predict", json={"features": features.tolist()})
    assert response.status_code == 200
    body = response.json()
    assert body["labels"] == pipeline.predict(features).tolist()
    np.testing.assert_allclose(
        body["target_probability"], pipeline.predict_proba(features)[:, 1], rtol=1e-6, atol=1e-9
    )
    assert body["model"] == {"name": "P300-Classifier", "version": "3", "alias": "champion",
                             "run_id": "0123456789abcdef", "kind": "population",
                             "study": "system-a", "subject": None}  # fmt: skip


def test_base64_batch_equals_json_lists(client, training):
    features = training[0][:25]
    as_lists = client.post("/predict", json={"features": features.tolist()}).json()
    as_b64 = client.post("/predict", json={"features_b64": b64(features)}).json()
    assert as_b64 == as_lists


_ROW = [0.0] * N_FEATURES


@pytest.mark.parametrize(
    ("body", "status", "match"),
    [
        ({"features": [[1.0] * 5]}, 422, r"must have 1120 values per epoch .* got 5 in row 0"),
        ({"features": [_ROW, [1.0] * 7]}, 422, r"got 7 in row 1"),
        ({"features": []}, 422, r"at least one epoch"),
        ({}, 422, r"exactly one of 'features' and 'features_b64'"),
        ({"features": [_ROW], "features_b64": "AAAA"}, 422, r"exactly one of"),
        ({"features": [["x", *_ROW[1:]]]}, 422, r"features\.0\.0: Input should be a valid number"),
        ({"feature": [_ROW]}, 422, r"feature: Extra inputs are not permitted"),
        ({"features_b64": b64(np.zeros(1000))}, 422, r"n_epochs × 1120 float32 .* got 1000 values"),
        ({"features_b64": "not base64!"}, 422, r"features_b64 must be valid base64"),
        ({"features_b64": b64(np.full(N_FEATURES, np.inf))}, 422, r"features must be finite"),
    ],
)
def test_bad_feature_batches_are_4xx_with_a_precise_message(client, body, status, match):
    response = client.post("/predict", json=body)
    assert response.status_code == status
    assert _matches(match, response.json()["detail"])


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b'{"features": [[1.0, 2.0]', r"malformed JSON body: Invalid JSON: EOF while parsing"),
        (b"", r"malformed JSON body: Invalid JSON: EOF while parsing a value"),
        (b'{"features" [[1.0]]}', r"malformed JSON body: Invalid JSON: expected `:`"),
    ],
)
def test_malformed_json_is_400(client, content, match):
    response = client.post("/predict", content=content,
                           headers={"content-type": "application/json"})  # fmt: skip
    assert response.status_code == 400
    assert _matches(match, response.json()["detail"])


def test_nan_literals_are_422(client):
    content = b'{"features": [[0.0, NaN' + b", 0.0" * (N_FEATURES - 2) + b"]]}"
    response = client.post("/predict", content=content)
    assert response.status_code == 422
    assert _matches(
        r"features must be finite numbers, got 1 NaN or infinite values "
        r"\(first at index \[0, 1\]\)",
        response.json()["detail"],
    )


def test_body_over_the_limit_is_413(served, training):
    small = TestClient(create_app(served, max_body_bytes=10_000))
    response = small.post("/predict", json={"features": training[0][:5].tolist()})
    assert response.status_code == 413
    assert _matches(r"at most 10000 bytes, got \d+ \(Content-Length\)", response.json()["detail"])


def test_health_and_model_describe_the_served_model(client, training):
    assert client.get("/health").json() == {
        "status": "ok", "detail": None,
        "model": {"name": "P300-Classifier", "version": "3", "alias": "champion",
                  "run_id": "0123456789abcdef", "kind": "population", "study": "system-a",
                  "subject": None},
    }  # fmt: skip
    described = client.get("/model").json()
    assert described["metrics"] == {"roc_auc": 0.91, "kappa": 0.55}
    assert described["features_schema"]["n_features"] == N_FEATURES
    assert described["features_schema"]["params"] == training[2].params
    assert described["version"] == "3"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/predict", {"features": [_ROW]}),
        ("post", "/predict", {"not": "even valid"}),
        ("post", "/predict/raw", None),
        ("post", "/decode", None),
        ("get", "/model", None),
        ("get", "/health", None),
    ],
)
def test_without_a_model_every_model_endpoint_is_503_with_the_reason(
    method, path, body, raw_window
):
    client = TestClient(create_app(None, unavailable_reason="P300_MODEL_BUNDLE is not set"))
    if path == "/predict/raw":
        body = raw_window
    elif path == "/decode":
        body = {"raw": raw_window}
    response = getattr(client, method)(path, **({"json": body} if body else {}))
    assert response.status_code == 503
    assert "P300_MODEL_BUNDLE is not set" in response.json()["detail"]


@pytest.mark.parametrize(
    ("environ", "match"),
    [
        ({}, r"P300_MODEL_BUNDLE is not set"),
        ({"P300_MODEL_BUNDLE": "/nonexistent/bundle"}, r"no model bundle at /nonexistent/bundle"),
        ("challenger", r"serves alias 'challenger', but .* built for alias 'champion'"),
    ],
)
def test_app_from_env_explains_why_it_has_no_model(environ, match, bundle_dir):
    if environ == "challenger":
        environ = {"P300_MODEL_BUNDLE": str(bundle_dir), "P300_MODEL_ALIAS": "challenger"}
    response = TestClient(create_app_from_env(environ)).get("/health")
    assert response.status_code == 503
    assert _matches(match, response.json()["detail"])


def test_app_from_env_serves_the_bundle_under_its_alias(bundle_dir):
    environ = {"P300_MODEL_BUNDLE": str(bundle_dir), "P300_MODEL_ALIAS": "champion"}
    assert TestClient(create_app_from_env(environ)).get("/health").json()["status"] == "ok"


def test_docs_work_behind_a_stage_prefix(served, training):
    prefix = "/_aws/execute-api/k3x9q2f7ab/prod"
    client = TestClient(create_app(served, root_path=prefix))
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "'openapi.json'" in docs.text  # relative: next to /docs under any prefix
    document = client.get("/openapi.json").json()
    assert document["servers"] == [{"url": "../prod"}]  # resolves to the prefix
    body_schema = document["paths"]["/predict"]["post"]["requestBody"]["content"]
    assert body_schema["application/json"]["schema"]["$ref"].endswith("/PredictRequest")
    assert {"PredictRequest", "RawWindow", "DecodeRequest"} <= set(
        document["components"]["schemas"]
    )
    assert client.post("/predict", json={"features": training[0][:2].tolist()}).status_code == 200


def test_predict_raw_computes_the_pipelines_features(client, served, pipeline, window_recording,
                                                     raw_window):  # fmt: skip
    # A blink-sized step on Fp1 makes the flashes around it fail the 100 µV rejection.
    data = np.array(raw_window["data"])
    onsets = np.flatnonzero(window_recording.stim)
    data[0, onsets[10] : onsets[10] + 40] += 300.0
    raw_window["data"] = data.tolist()
    response = client.post("/predict/raw", json=raw_window | {"return_features": True})
    assert response.status_code == 200
    body = response.json()

    params = PreprocessingParams(**served.info.features_schema["params"])
    expected = preprocess(dataclasses.replace(window_recording, data=data), params)
    features = np.array([epoch["features"] for epoch in body["epochs"]], dtype=np.float32)
    np.testing.assert_array_equal(features, expected.features)
    kept = expected.metadata[expected.metadata["kept"]]
    assert [e["onset_sample"] for e in body["epochs"]] == kept["onset_sample"].tolist()
    assert [e["stim_item"] for e in body["epochs"]] == kept["stim_item"].tolist()
    assert [e["label"] for e in body["epochs"]] == pipeline.predict(expected.features).tolist()
    rejected = expected.metadata[~expected.metadata["kept"]]
    assert body["rejected"] == [
        {"onset_sample": int(o), "reason": r}
        for o, r in zip(rejected["onset_sample"], rejected["reject_reason"], strict=True)
    ]
    assert any(r["reason"].startswith("peak_to_peak>100uV on Fp1") for r in body["rejected"])


def _reordered(window):
    return window | {"ch_names": window["ch_names"][::-1]}


def _downsampled(window):
    return window | {"sfreq": 256.0, "data": [row[::2] for row in window["data"]],
                     "stim": _onsets_halved(window["stim"]), "stim_item": None}  # fmt: skip


def _onsets_halved(stim):
    halved = [0] * ((len(stim) + 1) // 2)
    for i, code in enumerate(stim):
        if code:
            halved[i // 2] = code
    return halved


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (_reordered, r"ch_names must be the model's 16 channels in order \['Fp1'"),
        (lambda w: w | {"ch_names": w["ch_names"][:15], "data": w["data"][:15]},
         r"missing \['O2'\], unexpected \[\]"),
        (lambda w: w | {"stim": w["stim"][:-1]}, r"data must have shape \(n_channels, n_times\)"),
        (lambda w: w | {"stim_item": [0]}, r"stim_item must have \d+ values like stim, got 1"),
        (lambda w: w | {"stim": [3, *w["stim"][1:]]}, r"stim codes must be in \[0, 1, 2\]"),
        (lambda w: w | {"stim": [0] * len(w["stim"])}, r"no flash onsets"),
        (lambda w: w | {"sfreq": 30.0}, r"h_freq must be below the Nyquist frequency 15.0 Hz"),
        (_downsampled, r"does not match the model: features differ in epoch start tmin \(s\)"),
        (lambda w: w | {"sfreq": -1}, r"sfreq: Input should be greater than 0"),
    ],
)  # fmt: skip
def test_bad_raw_windows_are_422_with_a_precise_message(client, raw_window, change, match):
    response = client.post("/predict/raw", json=change(raw_window))
    assert response.status_code == 422
    assert _matches(match, response.json()["detail"])


def test_decode_speller_groups_from_features_equals_p300_decoding(client, pipeline, training):
    features = training[0][:60]
    groups = [i % 12 for i in range(60)]
    speller = {str(g): sorted(items) for g, items in enumerate(speller_groups())}
    body = {"features": features.tolist(), "flashed_items": groups, "groups": speller}
    response = client.post("/decode", json=body)
    assert response.status_code == 200
    expected = rank_items(pipeline.decision_function(features),
                          [speller[str(g)] for g in groups])  # fmt: skip
    ranking = response.json()["ranking"]
    assert [r["item"] for r in ranking] == list(expected.items)
    np.testing.assert_allclose([r["evidence"] for r in ranking], expected.evidence, rtol=1e-6)
    assert response.json()["best"] == expected.best


def test_decode_single_item_oddball_with_candidates(client, pipeline, training):
    """System B: each day of the month flashed on its own; rank only some candidates."""
    features = training[0][:62]
    days = [1 + i % 31 for i in range(62)]
    body = {"features_b64": b64(features), "flashed_items": days, "candidates": [3, 7, 12],
            "aggregate": "mean"}  # fmt: skip
    response = client.post("/decode", json=body).json()
    expected = rank_items(pipeline.decision_function(features), days, candidates=[3, 7, 12],
                          aggregate="mean")  # fmt: skip
    assert [r["item"] for r in response["ranking"]] == list(expected.items)
    assert [r["n_flashes"] for r in response["ranking"]] == [2, 2, 2]


def test_decode_from_a_raw_window_ignores_flashes_without_an_item(client, raw_window):
    full = client.post("/decode", json={"raw": raw_window}).json()
    kept = client.post("/predict/raw", json=raw_window).json()["epochs"]
    items = np.array(raw_window["stim_item"])
    items[kept[0]["onset_sample"]] = -1
    response = client.post("/decode", json={"raw": raw_window | {"stim_item": items.tolist()}})
    assert response.status_code == 200
    assert response.json()["n_flashes_used"] == full["n_flashes_used"] - 1
    assert -1 not in [r["item"] for r in response.json()["ranking"]]


def test_decode_from_a_raw_window_equals_the_cores_mirror_padded_decoding(
    client, raw_window, window_recording, pipeline, training
):
    from_raw = client.post("/decode", json={"raw": raw_window}).json()
    params = PreprocessingParams(**training[2].params)
    one_trial = np.zeros(len(window_recording.onsets), int)
    expected = decode_window(pipeline, window_recording, params, trials=one_trial).rankings[0]
    assert [r["item"] for r in from_raw["ranking"]] == list(expected.items)
    np.testing.assert_allclose([r["evidence"] for r in from_raw["ranking"]], expected.evidence,
                               rtol=1e-5, atol=1e-5)  # fmt: skip
    assert from_raw["n_flashes_used"] == int(expected.n_flashes.sum())


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ({"features": [_ROW, _ROW], "flashed_items": [1]},
         r"items of each of the 2 flashes, got 1 entries"),
        ({"features": [_ROW]}, r"'flashed_items' is required"),
        ({"features": [_ROW], "flashed_items": [5], "groups": {"0": [1]}},
         r"no entry for 5 \(groups given: \['0'\]\)"),
        ({"features": [_ROW], "flashed_items": [5], "candidates": []},
         r"candidates must name at least one item"),
        ({"features": [_ROW], "flashed_items": [5], "aggregate": "max"},
         r"aggregate: Input should be 'sum' or 'mean'"),
        ({"flashed_items": [5]}, r"exactly one of 'features', 'features_b64' and 'raw'; got none"),
    ],
)  # fmt: skip
def test_bad_decode_requests_are_422_with_a_precise_message(client, body, match):
    response = client.post("/decode", json=body)
    assert response.status_code == 422
    assert _matches(match, response.json()["detail"])


@pytest.mark.parametrize(
    ("stim_item", "match"),
    [
        (None, r"'raw.stim_item' is required"),
        ("all -1", r"every epoch of the raw window was rejected or has no item"),
    ],
)
def test_decode_raw_window_without_items_is_422(client, raw_window, stim_item, match):
    if stim_item == "all -1":
        stim_item = [-1] * len(raw_window["stim"])
    response = client.post("/decode", json={"raw": raw_window | {"stim_item": stim_item}})
    assert response.status_code == 422
    assert _matches(match, response.json()["detail"])


def _matches(pattern: str, text: str) -> bool:
    import re

    assert re.search(pattern, text), f"{pattern!r} not found in {text!r}"
    return True
