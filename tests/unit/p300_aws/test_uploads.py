"""The upload API's logic: landing keys, request checks, routing and presigned URLs."""

import base64
import json
import urllib.parse
from datetime import UTC, datetime

import boto3
import pytest
from botocore.config import Config

from p300.contract import DEFAULT_MAX_BYTES
from p300_aws import uploads
from p300_aws.keys import parse_landing_key
from p300_aws.names import LANDING_BUCKET
from p300_aws.uploads import UploadApi, UploadRequestError

NOW = datetime(2026, 11, 22, 19, 30, 5, tzinfo=UTC)
ENDPOINT = "http://127.0.0.1:4599"


@pytest.fixture
def api():
    """The API over a real S3 client of a closed endpoint: signing needs no network."""
    s3 = boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(signature_version="s3v4"),
    )
    return UploadApi(s3, clock=lambda: NOW, new_token=lambda: "0a1b2c3d")


def proxy_event(resource: str, body: object, *, upload_id: str | None = None, **extra) -> dict:
    """An API Gateway REST proxy event as the gateway sends it (body as JSON text)."""
    path = resource.replace("{upload_id}", upload_id or "")
    return {
        "resource": resource,
        "path": path,
        "httpMethod": "POST",
        "pathParameters": {"upload_id": upload_id} if upload_id else None,
        "body": body if isinstance(body, str) or body is None else json.dumps(body),
        "isBase64Encoded": False,
        **extra,
    }


def answer(response: dict) -> tuple[int, dict]:
    assert response["headers"]["Content-Type"] == "application/json"
    return response["statusCode"], json.loads(response["body"])


def test_the_default_key_is_a_landing_key_of_the_subject_and_session():
    target = uploads.landing_target({"subject": "07", "session": "2"}, now=NOW, token="ab12")
    assert target.key == "subject_07/session_2/recording-20261122T193005Z-ab12.parquet"
    parsed = parse_landing_key(target.key)
    assert (parsed.subject, parsed.session) == ("07", "2")


def test_a_given_file_name_is_kept():
    body = {"subject": "A-1", "session": "01", "file_name": "run_3.v2.parquet"}
    assert uploads.landing_target(body, now=NOW, token="x").key == (
        "subject_A-1/session_01/run_3.v2.parquet"
    )


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ({"session": "01"}, r"subject must be 1–64 letters, digits or '-'.*got None"),
        ({"subject": "01"}, r"session must be .*got None"),
        ({"subject": "0_1", "session": "01"}, r"subject must be .*got '0_1'"),
        ({"subject": "../x", "session": "01"}, r"subject must be .*got '../x'"),
        ({"subject": 7, "session": "01"}, r"subject must be .*got 7"),
        ({"subject": "01", "session": "-1"}, r"session must be .*got '-1'"),
        ({"subject": "01", "session": "a" * 65}, r"session must be"),
        ({"subject": "01", "session": "01", "file_name": "x.csv"},
         r"file_name must be .*\.parquet, got 'x.csv'"),
        ({"subject": "01", "session": "01", "file_name": "a/b.parquet"}, r"file_name must be"),
        ({"subject": "01", "session": "01", "file_name": ".parquet"}, r"file_name must be"),
    ],
)  # fmt: skip
def test_bad_ids_and_file_names_are_refused_with_the_field_and_value(body, match):
    with pytest.raises(UploadRequestError, match=match):
        uploads.landing_target(body, now=NOW, token="x")


def test_the_size_limit_is_the_ingest_limit():
    assert uploads.MAX_UPLOAD_BYTES == DEFAULT_MAX_BYTES


@pytest.mark.parametrize("size", [0, -1, DEFAULT_MAX_BYTES + 1, 1.5, "10", True])
def test_an_invalid_size_is_refused(size):
    with pytest.raises(UploadRequestError, match=rf"size must be .* got {size!r}"):
        uploads.checked_size({"size": size})


@pytest.mark.parametrize(
    "key",
    [None, "x.parquet", "subject_01/x.parquet", "subject_01/session_01/a/x.parquet",
     "subject_01/session_01/x.csv", "subject_0_1/session_01/x.parquet"],
)  # fmt: skip
def test_a_multipart_key_must_be_a_subject_session_landing_key(key):
    with pytest.raises(UploadRequestError, match=r"key must be the subject_<S>/session_<N>/"):
        uploads.checked_upload_key({"key": key})


@pytest.mark.parametrize(
    "numbers", [None, [], [0], [10_001], [1, 1], ["1"], [True], list(range(1, 102))]
)
def test_invalid_part_numbers_are_refused(numbers):
    with pytest.raises(UploadRequestError, match=r"part_numbers must be a list of 1 to 100"):
        uploads.checked_part_numbers({"part_numbers": numbers})


@pytest.mark.parametrize(
    ("parts", "match"),
    [
        (None, "got None"),
        ([], r"got \[\]"),
        ([{"part_number": 1}], "got the part"),
        ([{"part_number": 0, "etag": "e"}], "got the part"),
        ([{"part_number": 2, "etag": "b"}, {"part_number": 1, "etag": "a"}],
         r"got part numbers \[2, 1\]"),
        ([{"part_number": 1, "etag": "a"}, {"part_number": 1, "etag": "a"}],
         r"got part numbers \[1, 1\]"),
    ],
)  # fmt: skip
def test_invalid_parts_are_refused(parts, match):
    with pytest.raises(UploadRequestError, match=match):
        uploads.checked_parts({"parts": parts})


def test_parts_become_s3_parts():
    parts = [{"part_number": 1, "etag": '"a"'}, {"part_number": 3, "etag": '"c"'}]
    assert uploads.checked_parts({"parts": parts}) == [
        {"PartNumber": 1, "ETag": '"a"'},
        {"PartNumber": 3, "ETag": '"c"'},
    ]


def test_a_base64_body_is_decoded():
    body = base64.b64encode(b'{"subject": "01"}').decode()
    assert uploads.parse_body({"body": body, "isBase64Encoded": True}) == {"subject": "01"}


@pytest.mark.parametrize("body", ["not json", "[1, 2]", '"text"'])
def test_a_body_that_is_not_a_json_object_answers_400(api, body):
    status, document = answer(api.handle(proxy_event("/uploads", body)))
    assert status == 400
    assert document["message"].startswith("the request body must be a JSON object")


def test_a_single_upload_answers_a_presigned_put_to_the_landing_key(api):
    event = proxy_event("/uploads", {"subject": "03", "session": "01", "size": 1234})
    status, document = answer(api.handle(event))
    assert status == 200
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


def test_a_bad_subject_answers_400_with_its_message(api):
    status, document = answer(
        api.handle(proxy_event("/uploads", {"subject": "bad id", "session": "01"}))
    )
    assert status == 400
    assert document["message"] == (
        "subject must be 1–64 letters, digits or '-', starting with a letter or digit, got 'bad id'"
    )


def test_part_urls_are_presigned_upload_part_requests(api):
    key = "subject_03/session_01/r.parquet"
    event = proxy_event(
        "/uploads/multipart/{upload_id}/parts",
        {"key": key, "part_numbers": [1, 2]},
        upload_id="UPLOAD-1",
    )
    status, document = answer(api.handle(event))
    assert status == 200
    assert set(document["urls"]) == {"1", "2"}
    for number, url in document["urls"].items():
        parts = urllib.parse.urlsplit(url)
        query = urllib.parse.parse_qs(parts.query)
        assert parts.path == f"/{LANDING_BUCKET}/{key}"
        assert query["uploadId"] == ["UPLOAD-1"]
        assert query["partNumber"] == [number]


@pytest.mark.parametrize(
    ("event", "status", "message"),
    [
        (proxy_event("/elsewhere", {}), 404, "no route '/elsewhere'"),
        (proxy_event("/uploads", {}, httpMethod="GET"), 405, "use POST, got 'GET'"),
        (proxy_event("/uploads/multipart/{upload_id}/complete", {"key": "k"}, upload_id="u"),
         400, "key must be"),
        (proxy_event("/uploads/multipart/{upload_id}/abort", None, upload_id="u"),
         400, "key must be"),
    ],
)  # fmt: skip
def test_requests_the_api_does_not_serve_are_answered_without_calling_s3(
    api, event, status, message
):
    code, document = answer(api.handle(event))
    assert code == status
    assert message in document["message"]
