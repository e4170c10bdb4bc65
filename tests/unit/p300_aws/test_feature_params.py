"""Whether features are current: the one test the pipeline and `p300 subjects` both make."""

import boto3
import pytest
from botocore.stub import Stubber

from p300.studies import SYSTEM_A
from p300_aws.feature_params import (
    CURRENT,
    MISSING,
    PARAMS_HASH,
    PROFILE_HASH,
    RAW_SHA256,
    REJECTED,
    STALE,
    features_state,
    needs_processing,
)
from p300_aws.keys import SubjectSession
from p300_aws.names import FEATURES_BUCKET

IDS = SubjectSession("system-a", "01", "01")
KEY = "study=system-a/subject=01/session=01/features.parquet"
REJECTION_KEY = "study=system-a/subject=01/session=01/rejection.json"
P1, PROFILE = SYSTEM_A.params_hash, SYSTEM_A.hash()


def _s3_with(features: dict | None, rejection: dict | None, *, current: bool):
    """An S3 client answering the HEAD of the features and, unless they are current, of the
    rejection record (None: no such object)."""
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="test",
                      aws_secret_access_key="test")  # fmt: skip
    stub = Stubber(s3)
    heads = [(KEY, features)] + ([] if current else [(REJECTION_KEY, rejection)])
    for key, metadata in heads:
        expected = {"Bucket": FEATURES_BUCKET, "Key": key}
        if metadata is None:
            stub.add_client_error("head_object", "404", http_status_code=404,
                                  expected_params=expected)  # fmt: skip
        else:
            head = {"ContentLength": 1, "ETag": '"e"', "Metadata": metadata, "VersionId": "v1"}
            stub.add_response("head_object", head, expected)
    stub.activate()
    return s3


@pytest.mark.parametrize(
    ("features", "rejection", "raw_sha256", "state"),
    [
        ({RAW_SHA256: "abc", PARAMS_HASH: P1}, None, "abc", CURRENT),
        ({RAW_SHA256: "old", PARAMS_HASH: P1}, None, "abc", STALE),
        ({RAW_SHA256: "abc", PARAMS_HASH: "p0"}, None, "abc", STALE),  # another profile's params
        ({RAW_SHA256: "abc"}, None, "abc", STALE),  # made before params were recorded
        ({}, None, None, STALE),  # raw bytes of unknown hash are never matched
        (None, None, "abc", MISSING),
        (None, {RAW_SHA256: "abc", PROFILE_HASH: PROFILE}, "abc", REJECTED),
        ({RAW_SHA256: "abc", PARAMS_HASH: "p0"}, {RAW_SHA256: "abc", PROFILE_HASH: PROFILE},
         "abc", REJECTED),  # refused by the current profile: the stale features stay
        (None, {RAW_SHA256: "abc", PROFILE_HASH: "older"}, "abc", MISSING),  # another profile
        (None, {RAW_SHA256: "old", PROFILE_HASH: PROFILE}, "abc", MISSING),  # other bytes
    ],
)  # fmt: skip
def test_features_are_current_only_for_the_same_raw_bytes_and_profile(
    features, rejection, raw_sha256, state
):
    def s3():
        return _s3_with(features, rejection, current=state == CURRENT)

    assert features_state(s3(), IDS, raw_sha256=raw_sha256, profile=SYSTEM_A) == state
    assert needs_processing(s3(), IDS, raw_sha256=raw_sha256, profile=SYSTEM_A) is (
        state not in (CURRENT, REJECTED)
    )
