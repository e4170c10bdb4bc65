"""Binary float32 batches: decoding, its errors, and /predict with an octet-stream body."""

import re

import numpy as np
import pytest

from p300_serving import binary
from p300_serving.errors import InputError

N_FEATURES = 3


def test_a_batch_round_trips_as_little_endian_float32_row_major():
    features = np.arange(2 * N_FEATURES, dtype=np.float64).reshape(2, N_FEATURES)

    body = binary.encode_batch(features)
    decoded = binary.decode_batch(body, {"x-p300-shape": "2,3"}, N_FEATURES)

    assert body == np.array([0, 1, 2, 3, 4, 5], "<f4").tobytes()
    np.testing.assert_array_equal(decoded, features)
    assert decoded.dtype == np.float32


def test_without_headers_the_models_n_features_gives_the_shape():
    body = binary.encode_batch(np.ones((4, N_FEATURES)))

    assert binary.decode_batch(body, {}, N_FEATURES).shape == (4, N_FEATURES)


@pytest.mark.parametrize(
    ("n_bytes", "headers", "match"),
    [
        (0, {}, r"n_epochs × 3 float32 values .* got 0 bytes"),
        (13, {}, r"n_epochs × 3 float32 values .* got 13 bytes"),
        (16, {}, r"n_epochs × 3 float32 values .* got 16 bytes"),
        (24, {"x-p300-shape": "3,3"}, r"header says 3,3, the 24-byte body holds 2,3"),
        (24, {"x-p300-shape": "1,6"}, r"header says 1,6, the 24-byte body holds 2,3"),
        (24, {"x-p300-shape": "2"}, r"'<n_epochs>,<n_features>' .* got '2'"),
        (24, {"x-p300-shape": "2,-3"}, r"two whole numbers > 0\), got '2,-3'"),
        (
            24,
            {"x-p300-dtype": "float64"},
            r"x-p300-dtype must be one of \['float32', '<f4'\], got 'float64'",
        ),
    ],
)
def test_a_wrong_size_shape_or_dtype_is_named(n_bytes, headers, match):
    with pytest.raises(InputError, match=match):
        binary.decode_batch(b"\0" * n_bytes, headers, N_FEATURES)


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/octet-stream", True),
        ("Application/Octet-Stream; charset=binary", True),
        ("application/json", False),
        ("", False),
    ],
)
def test_is_binary_reads_the_content_type(content_type, expected):
    assert binary.is_binary({"content-type": content_type}) is expected


def test_a_binary_batch_gets_the_same_answer_as_json(client, training):
    features = training[0][:25]

    as_json = client.post("/predict", json={"features": features.tolist()}).json()
    response = client.post("/predict", content=binary.encode_batch(features),
                           headers=binary.binary_headers(features.shape))  # fmt: skip

    assert response.status_code == 200
    assert response.json() == as_json


@pytest.mark.parametrize(
    ("body", "headers", "match"),
    [
        (b"\0" * 10, {}, r"n_epochs × 1120 float32 values .* got 10 bytes"),
        (b"\0" * 4480, {"X-P300-Shape": "2,1120"}, r"header says 2,1120, the 4480-byte body"),
        (b"\0" * 4480, {"X-P300-Dtype": "int16"}, r"x-p300-dtype must be one of"),
        (np.full(1120, np.nan, "<f4").tobytes(), {}, r"features must be finite numbers"),
    ],
)
def test_a_bad_binary_batch_is_a_422_naming_the_problem(client, body, headers, match):
    response = client.post(
        "/predict", content=body, headers={"Content-Type": binary.MEDIA_TYPE, **headers}
    )

    assert response.status_code == 422
    assert re.search(match, response.json()["detail"])
