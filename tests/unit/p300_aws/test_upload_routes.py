"""The upload API's router on API Gateway REST proxy events: status codes and messages."""

import copy
import json

import boto3
import pytest
from botocore.config import Config

from p300_aws import keys
from p300_aws.upload_routes import upload_app
from p300_aws.uploads import Uploads
from tests.fixtures import load_event
from tests.unit.p300_aws.test_uploads import ENDPOINT, NOW


@pytest.fixture(scope="module")
def app():
    """The router over a real S3 client of a closed endpoint: nothing here may call S3."""
    s3 = boto3.client(
        "s3", endpoint_url=ENDPOINT, region_name="us-east-1", aws_access_key_id="test",
        aws_secret_access_key="test", config=Config(signature_version="s3v4"),
    )  # fmt: skip
    return upload_app(Uploads(s3, clock=lambda: NOW, new_token=lambda: "0a1b2c3d"))


def request(path: str, body: object, *, method: str = "POST") -> dict:
    """The recorded proxy event of ``POST /uploads`` with another path, method and body; paths
    under ``/uploads/`` reach the function through the ``{proxy+}`` resource."""
    event = copy.deepcopy(load_event("upload_single"))
    event["path"], event["httpMethod"] = path, method
    event["requestContext"]["path"] = f"/prod{path}"
    if path != "/uploads":
        event["resource"] = "/uploads/{proxy+}"
        event["pathParameters"] = {"proxy": path.removeprefix("/uploads/")}
    event["body"] = body if isinstance(body, str) or body is None else json.dumps(body)
    return event


def answer(response: dict) -> tuple[int, dict]:
    assert response["multiValueHeaders"]["Content-Type"] == ["application/json"]
    return response["statusCode"], json.loads(response["body"])


def test_the_recorded_single_upload_request_answers_a_presigned_put(app):
    status, document = answer(app.resolve(load_event("upload_single"), None))
    assert status == 200
    assert document["key"] == "subject_03/session_01/recording-20261122T193005Z-0a1b2c3d.parquet"
    assert document["method"] == "PUT"
    assert document["url"].startswith(f"{ENDPOINT}/p300-landing-zone/subject_03/session_01/")


def test_part_urls_take_the_upload_id_from_the_path(app):
    body = {"key": "subject_03/session_01/r.parquet", "part_numbers": [1, 2]}
    status, document = answer(app.resolve(request("/uploads/multipart/UP-1/parts", body), None))
    assert status == 200
    assert document["upload_id"] == "UP-1"
    assert set(document["urls"]) == {"1", "2"}
    assert all("uploadId=UP-1" in url for url in document["urls"].values())


def test_a_bad_subject_answers_400_with_its_message(app):
    status, document = answer(
        app.resolve(request("/uploads", {"subject": "bad id", "session": "01"}), None)
    )
    assert status == 400
    assert document["message"] == f"subject must be {keys.ID_RULE}, got 'bad id'"


@pytest.mark.parametrize("body", ["not json", "[1, 2]", '"text"'])
def test_a_body_that_is_not_a_json_object_answers_400(app, body):
    status, document = answer(app.resolve(request("/uploads", body), None))
    assert status == 400
    assert document["message"].startswith("the request body must be a JSON object")


@pytest.mark.parametrize(
    ("event", "status", "message"),
    [
        (request("/uploads/elsewhere", {}), 404, "no route POST '/uploads/elsewhere'"),
        (request("/uploads", {}, method="GET"), 405, "use POST, got 'GET'"),
        (request("/uploads/multipart/u/complete", {"key": "k"}), 400, "key must be"),
        (request("/uploads/multipart/u/abort", None), 400, "key: Field required"),
    ],
)
def test_requests_the_api_does_not_serve_are_answered_without_calling_s3(
    app, event, status, message
):
    code, document = answer(app.resolve(event, None))
    assert code == status
    assert message in document["message"]
