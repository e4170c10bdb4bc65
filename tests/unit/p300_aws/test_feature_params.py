"""Whether features are current: the one test the pipeline and `p300 subjects` both make."""

import boto3
import pytest
from botocore.stub import Stubber

from p300_aws.feature_params import (
    CURRENT,
    MISSING,
    PARAMS_HASH,
    RAW_SHA256,
    STALE,
    features_are_current,
    features_state,
)
from p300_aws.keys import SubjectSession
from p300_aws.names import FEATURES_BUCKET

IDS = SubjectSession("system-a", "01", "01")
KEY = "study=system-a/subject=01/session=01/features.parquet"


def _s3_with_features(metadata: dict | None):
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="test",
                      aws_secret_access_key="test")  # fmt: skip
    stub = Stubber(s3)
    expected = {"Bucket": FEATURES_BUCKET, "Key": KEY}
    if metadata is None:
        stub.add_client_error("head_object", "404", http_status_code=404, expected_params=expected)
    else:
        head = {"ContentLength": 1, "ETag": '"e"', "Metadata": metadata, "VersionId": "v1"}
        stub.add_response("head_object", head, expected)
    stub.activate()
    return s3


@pytest.mark.parametrize(
    ("metadata", "raw_sha256", "state"),
    [
        ({RAW_SHA256: "abc", PARAMS_HASH: "p1"}, "abc", CURRENT),
        ({RAW_SHA256: "old", PARAMS_HASH: "p1"}, "abc", STALE),
        ({RAW_SHA256: "abc", PARAMS_HASH: "p0"}, "abc", STALE),  # other preprocessing params
        ({RAW_SHA256: "abc"}, "abc", STALE),  # made before params were recorded
        ({}, None, STALE),  # raw bytes of unknown hash are never matched
        (None, "abc", MISSING),
    ],
)
def test_features_are_current_only_for_the_same_raw_bytes_and_params(metadata, raw_sha256, state):
    s3 = _s3_with_features(metadata)
    assert features_state(s3, IDS, raw_sha256=raw_sha256, params_hash="p1") == state
    s3 = _s3_with_features(metadata)
    assert features_are_current(s3, IDS, raw_sha256=raw_sha256, params_hash="p1") is (
        state == CURRENT
    )
