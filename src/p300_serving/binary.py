"""Binary feature batches: ``POST /predict`` with ``Content-Type: application/octet-stream``.

The body is the batch itself, n_epochs × n_features little-endian float32 values, row-major
(µV), with no base64 and no JSON (API Gateway passes it through as a binary media type). Two
optional headers describe it; without them the model's n_features gives the shape:

- ``X-P300-Shape: <n_epochs>,<n_features>``: checked against the body's size and the model;
- ``X-P300-Dtype: float32``: the only dtype accepted (``<f4`` is the same).
"""

from collections.abc import Mapping

import numpy as np

from p300_serving.errors import InputError

MEDIA_TYPE = "application/octet-stream"
SHAPE_HEADER, DTYPE_HEADER = "x-p300-shape", "x-p300-dtype"
DTYPES = ("float32", "<f4")
BODY_DESCRIPTION = (
    "JSON, or n_epochs × n_features little-endian float32 values, row-major, as "
    "application/octet-stream with optional headers X-P300-Shape: <n_epochs>,<n_features> and "
    "X-P300-Dtype: float32."
)


def is_binary(headers: Mapping[str, str]) -> bool:
    """Whether a request's ``Content-Type`` says its body is a binary batch."""
    return headers.get("content-type", "").split(";")[0].strip().lower() == MEDIA_TYPE


def binary_headers(shape: tuple[int, int]) -> dict[str, str]:
    """The request headers of a binary batch of ``shape`` (n_epochs, n_features)."""
    return {"Content-Type": MEDIA_TYPE, "X-P300-Shape": f"{shape[0]},{shape[1]}",
            "X-P300-Dtype": "float32"}  # fmt: skip


def encode_batch(features: np.ndarray) -> bytes:
    """The body of a binary batch: ``features`` (n_epochs, n_features) as little-endian
    float32, row-major."""
    return np.ascontiguousarray(features, dtype="<f4").tobytes()


def decode_batch(body: bytes, headers: Mapping[str, str], n_features: int) -> np.ndarray:
    """The float32 batch (n_epochs, n_features) of a binary body; InputError names what is
    wrong (dtype, shape header, body size)."""
    dtype = headers.get(DTYPE_HEADER, "float32").strip().lower()
    if dtype not in DTYPES:
        raise InputError(f"{DTYPE_HEADER} must be one of {list(DTYPES)}, got {dtype!r}")
    if len(body) == 0 or len(body) % (4 * n_features):
        raise InputError(
            f"a binary batch must hold n_epochs × {n_features} float32 values (the model's "
            f"n_features, 4 bytes each), got {len(body)} bytes"
        )
    n_epochs = len(body) // (4 * n_features)
    shape = headers.get(SHAPE_HEADER)
    if shape is not None:
        expected = _parse_shape(shape)
        if expected != (n_epochs, n_features):
            raise InputError(
                f"{SHAPE_HEADER} must match the body and the model's n_features: header says "
                f"{expected[0]},{expected[1]}, the {len(body)}-byte body holds "
                f"{n_epochs},{n_features}"
            )
    return np.frombuffer(body, dtype="<f4").reshape(n_epochs, n_features)


def _parse_shape(text: str) -> tuple[int, int]:
    parts = [part.strip() for part in text.split(",")]
    if len(parts) != 2 or not all(part.isdigit() and int(part) > 0 for part in parts):
        raise InputError(
            f"{SHAPE_HEADER} must be '<n_epochs>,<n_features>' (two whole numbers > 0), "
            f"got {text!r}"
        )
    return int(parts[0]), int(parts[1])
