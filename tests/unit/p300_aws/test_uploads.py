"""The upload API's logic: request bodies, landing keys and presigned URLs."""

import base64
import json
import urllib.parse
from datetime import UTC, datetime

import boto3
import pytest
from botocore.config import Config

from p300.contract import DEFAULT_MAX_BYTES
from p300_aws import studies, uploads
from p300_aws.keys import parse_landing_key
from p300_aws.names import LANDING_BUCKET
from p300_aws.uploads import (
    CompleteRequest,
    MultipartStart,
    PartUrlsRequest,
    SingleUpload,
    UploadRequestError,
    Uploads,
    parse_body,
)

NOW = datetime(2026, 11, 22, 19, 30, 5, tzinfo=UTC)
ENDPOINT = "http://127.0.0.1:4599"


@pytest.fixture
def api():
    """The routes' logic over a real S3 client of a closed endpoint: signing needs no network."""
    s3 = boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(signature_version="s3v4"),
    )
    return Uploads(s3, clock=lambda: NOW, new_token=lambda: "0a1b2c3d", check_study=_known)


def _known(name: str) -> None:
    """The study store of these tests: ``speller`` and ``system-a`` exist."""
    if name not in ("speller", "system-a"):
        raise studies.unknown_study(name, {"speller": [1], "system-a": [1]})


def body(model, document: dict):
    """``document`` parsed as the request body of ``model``."""
    return parse_body(model, json.dumps(document))


def test_the_default_key_is_a_landing_key_of_the_subject_and_session():
    request = body(MultipartStart, {"subject": "07", "session": "2"})
    key = uploads.landing_key(request, now=NOW, token="ab12")
    assert key == "subject_07/session_2/recording-20261122T193005Z-ab12.parquet"
    parsed = parse_landing_key(key)
    assert (parsed.subject, parsed.session) == ("07", "2")


def test_a_given_file_name_is_kept():
    request = body(
        MultipartStart, {"subject": "A-1", "session": "01", "file_name": "run_3.v2.parquet"}
    )
    assert uploads.landing_key(request, now=NOW, token="x") == (
        "subject_A-1/session_01/run_3.v2.parquet"
    )


def test_a_study_puts_the_key_below_its_study_folder():
    request = body(MultipartStart, {"subject": "01", "session": "02", "study": "speller"})
    key = uploads.landing_key(request, now=NOW, token="ab12")
    assert key == "study_speller/subject_01/session_02/recording-20261122T193005Z-ab12.parquet"
    parsed = parse_landing_key(key)
    assert (parsed.study, parsed.subject, parsed.session) == ("speller", "01", "02")
    assert body(uploads.AbortRequest, {"key": key}).key == key


@pytest.mark.parametrize(
    ("document", "match"),
    [
        ({"subject": "01", "session": "01", "study": "Speller"},
         r"study must be 1–64 lowercase letters, .*got 'Speller'"),
        ({"subject": "01", "session": "01", "study": 3},
         r"study: Input should be a valid string, got 3"),
        ({"session": "01"}, r"subject: Field required"),
        ({"subject": "01"}, r"session: Field required"),
        ({"subject": "0_1", "session": "01"},
         r"subject must be 1–64 letters, digits or '-', starting with .*, got '0_1'"),
        ({"subject": "../x", "session": "01"}, r"subject must be .*got '../x'"),
        ({"subject": 7, "session": "01"}, r"subject: Input should be a valid string, got 7"),
        ({"subject": "01", "session": "-1"}, r"session must be .*got '-1'"),
        ({"subject": "01", "session": "a" * 65}, r"session must be"),
        ({"subject": "01", "session": "01", "file_name": "x.csv"},
         r"file_name must be .*\.parquet, got 'x.csv'"),
        ({"subject": "01", "session": "01", "file_name": "a/b.parquet"}, r"file_name must be"),
        ({"subject": "01", "session": "01", "file_name": ".parquet"}, r"file_name must be"),
        ({"subject": "01", "session": "01", "bucket": "b"},
         r"bucket: Extra inputs are not permitted, got 'b'"),
    ],
)  # fmt: skip
def test_bad_ids_and_file_names_are_refused_with_the_field_and_value(document, match):
    with pytest.raises(UploadRequestError, match=match):
        body(MultipartStart, document)


def test_the_size_limit_is_the_ingest_limit():
    assert uploads.MAX_UPLOAD_BYTES == DEFAULT_MAX_BYTES


@pytest.mark.parametrize("size", [0, -1, DEFAULT_MAX_BYTES + 1, 1.5, "10", True])
def test_an_invalid_size_is_refused(size):
    with pytest.raises(UploadRequestError, match=rf"size: .* got {size!r}"):
        body(SingleUpload, {"subject": "01", "session": "01", "size": size})


@pytest.mark.parametrize(
    "key",
    ["x.parquet", "subject_01/x.parquet", "subject_01/session_01/a/x.parquet",
     "subject_01/session_01/x.csv", "subject_0_1/session_01/x.parquet",
     "study_speller/subject_01/x.parquet", "study_Speller/subject_01/session_01/x.parquet"],
)  # fmt: skip
def test_a_multipart_key_must_be_a_subject_session_landing_key(key):
    with pytest.raises(
        UploadRequestError, match=r"key must be the \[study_<name>/\]subject_<S>/session_<N>/"
    ):
        body(uploads.AbortRequest, {"key": key})


@pytest.mark.parametrize(
    ("document", "match"), [({}, "key: Field required"), ({"key": None}, "key: .*got None")]
)
def test_a_multipart_key_is_required(document, match):
    with pytest.raises(UploadRequestError, match=match):
        body(uploads.AbortRequest, document)


KEY = "subject_01/session_01/x.parquet"


@pytest.mark.parametrize(
    ("numbers", "match"),
    [
        (None, "part_numbers: Input should be a valid list, got None"),
        ([], "part_numbers: List should have at least 1 item"),
        ([0], "part_numbers.0: Input should be greater than or equal to 1, got 0"),
        ([10_001], "part_numbers.0: Input should be less than or equal to 10000, got 10001"),
        ([1, 1], r"part_numbers must be distinct, got \[1, 1\]"),
        (["1"], "part_numbers.0: Input should be a valid integer, got '1'"),
        ([True], "part_numbers.0: Input should be a valid integer, got True"),
        (list(range(1, 102)), "part_numbers: List should have at most 100 items"),
    ],
)
def test_invalid_part_numbers_are_refused(numbers, match):
    with pytest.raises(UploadRequestError, match=match):
        body(PartUrlsRequest, {"key": KEY, "part_numbers": numbers})


@pytest.mark.parametrize(
    ("parts", "match"),
    [
        (None, "parts: Input should be a valid list, got None"),
        ([], "parts: List should have at least 1 item"),
        ([{"part_number": 1}], "parts.0.etag: Field required"),
        ([{"part_number": 0, "etag": "e"}], "parts.0.part_number: .*got 0"),
        ([{"part_number": 1, "etag": ""}], "parts.0.etag: .*got ''"),
    ],
)
def test_invalid_parts_are_refused(parts, match):
    with pytest.raises(UploadRequestError, match=match):
        body(CompleteRequest, {"key": KEY, "parts": parts})


@pytest.mark.parametrize(
    ("parts", "match"),
    [
        ([{"part_number": 2, "etag": "b"}, {"part_number": 1, "etag": "a"}],
         r"ascending part_number order, .* got part numbers \[2, 1\]"),
        ([{"part_number": 1, "etag": "a"}, {"part_number": 1, "etag": "a"}],
         r"got part numbers \[1, 1\]"),
    ],
)  # fmt: skip
def test_parts_out_of_order_are_refused(parts, match):
    with pytest.raises(UploadRequestError, match=match):
        body(CompleteRequest, {"key": KEY, "parts": parts}).s3_parts()


def test_parts_become_s3_parts():
    parts = [{"part_number": 1, "etag": '"a"'}, {"part_number": 3, "etag": '"c"'}]
    assert body(CompleteRequest, {"key": KEY, "parts": parts}).s3_parts() == [
        {"PartNumber": 1, "ETag": '"a"'},
        {"PartNumber": 3, "ETag": '"c"'},
    ]


def test_a_base64_body_is_decoded():
    text = base64.b64encode(b'{"key": "subject_01/session_01/x.parquet"}').decode()
    assert parse_body(uploads.AbortRequest, text, base64_encoded=True).key == KEY


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '"text"'])
def test_a_body_that_is_not_a_json_object_is_refused(text):
    with pytest.raises(UploadRequestError, match=r"^the request body must be a JSON object"):
        parse_body(uploads.AbortRequest, text)


def test_a_single_upload_is_a_presigned_put_to_the_landing_key(api):
    document = api.single_upload(
        body(SingleUpload, {"subject": "03", "session": "01", "size": 1234})
    )
    key = "subject_03/session_01/recording-20261122T193005Z-0a1b2c3d.parquet"
    assert document["key"] == key
    assert document["method"] == "PUT"
    assert document["expires_in"] == uploads.URL_EXPIRES_S
    url = urllib.parse.urlsplit(document["url"])
    assert f"{url.scheme}://{url.netloc}" == ENDPOINT
    assert url.path == f"/{LANDING_BUCKET}/{key}"
    query = urllib.parse.parse_qs(url.query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == [str(uploads.URL_EXPIRES_S)]
    assert "content-length" in query["X-Amz-SignedHeaders"][0]


def test_part_urls_are_presigned_upload_part_requests(api):
    key = "subject_03/session_01/r.parquet"
    request = body(PartUrlsRequest, {"key": key, "part_numbers": [1, 2]})
    document = api.part_urls(request, "UPLOAD-1")
    assert set(document["urls"]) == {"1", "2"}
    for number, url in document["urls"].items():
        parts = urllib.parse.urlsplit(url)
        query = urllib.parse.parse_qs(parts.query)
        assert parts.path == f"/{LANDING_BUCKET}/{key}"
        assert query["uploadId"] == ["UPLOAD-1"]
        assert query["partNumber"] == [number]


def test_a_study_upload_lands_below_its_study_folder(api):
    request = body(SingleUpload, {"subject": "03", "session": "01", "study": "speller"})
    assert api.single_upload(request)["key"].startswith("study_speller/subject_03/session_01/")


def test_an_unknown_study_is_refused_before_any_url_is_signed(api):
    request = body(MultipartStart, {"subject": "03", "session": "01", "study": "nope"})
    with pytest.raises(UploadRequestError, match=r"unknown study 'nope': the studies are \["):
        api.start_multipart(request)
