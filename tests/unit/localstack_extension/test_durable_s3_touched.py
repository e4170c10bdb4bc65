"""Which S3 state a request changed, and what a commit must journal with it."""

import pytest
from p300_localstack.durable_s3.touched import touched, with_unsaved_buckets


@pytest.mark.parametrize(
    ("operation", "request_", "response", "expected"),
    [
        ("PutObject", {"Bucket": "b", "Key": "k"}, {}, [("key", ("b", "k"))]),
        ("GetObject", {"Bucket": "b", "Key": "k"}, {}, []),
        ("ListObjectsV2", {"Bucket": "b"}, {}, []),
        ("CreateBucket", {"Bucket": "b"}, {}, [("bucket", ("b",))]),
        ("PutBucketVersioning", {"Bucket": "b"}, {}, [("bucket", ("b",))]),
        (
            "CreateMultipartUpload",
            {"Bucket": "b", "Key": "k"},
            {"UploadId": "u"},
            [("mpu", ("b", "u"))],
        ),
        (
            "UploadPart",
            {"Bucket": "b", "Key": "k", "UploadId": "u", "PartNumber": 7},
            {},
            [("part", ("b", "u", "7"))],
        ),
        (
            "UploadPartCopy",
            {"Bucket": "b", "Key": "k", "UploadId": "u", "PartNumber": 2},
            {},
            [("part", ("b", "u", "2"))],
        ),
        ("AbortMultipartUpload", {"Bucket": "b", "UploadId": "u"}, {}, [("mpu", ("b", "u"))]),
        (
            "CompleteMultipartUpload",
            {"Bucket": "b", "Key": "k", "UploadId": "u"},
            {},
            [("key", ("b", "k")), ("mpu", ("b", "u"))],
        ),
        (
            "DeleteObjects",
            {"Bucket": "b", "Delete": {"Objects": [{"Key": "x"}, {"Key": "y"}, {"Key": "x"}]}},
            {},
            [("key", ("b", "x")), ("key", ("b", "y"))],
        ),
        ("PostObject", {"Bucket": "b"}, {"Key": "form-key"}, [("key", ("b", "form-key"))]),
    ],
)
def test_touched_names_what_a_request_changed(operation, request_, response, expected):
    assert touched(operation, request_, response) == expected


def test_a_put_into_a_bucket_not_yet_journaled_journals_the_bucket_too():
    """Before, the PUT's record was journaled alone and dropped at restore (no bucket record)."""
    things = [("key", ("new", "k")), ("key", ("old", "k")), ("key", ("new", "k2"))]
    assert with_unsaved_buckets(things, {"old"}.__contains__) == [("bucket", ("new",)), *things]


def test_a_bucket_the_request_itself_journals_is_not_added_twice():
    things = [("bucket", ("new",))]
    assert with_unsaved_buckets(things, lambda name: False) == things
