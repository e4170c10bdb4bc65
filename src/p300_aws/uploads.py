"""The upload API's logic: presigned S3 URLs into the landing zone for one subject/session.

Recording bytes never pass through the Lambda: it only checks the request and signs URLs with
which the client sends the bytes straight to S3. Routes (all ``POST``, JSON bodies, behind an
API key):

- ``/uploads`` ``{subject, session, file_name?, size?}`` → one presigned ``PUT`` URL;
- ``/uploads/multipart`` ``{subject, session, file_name?}`` → a multipart upload's key and id;
- ``/uploads/multipart/{upload_id}/parts`` ``{key, part_numbers}`` → a presigned ``PUT`` URL
  per part number;
- ``/uploads/multipart/{upload_id}/complete`` ``{key, parts: [{part_number, etag}]}``;
- ``/uploads/multipart/{upload_id}/abort`` ``{key}``.

Every object lands at ``subject_<S>/session_<N>/<file_name>``, a key the ingest pipeline reads
subject and session from (`p300_aws.keys`). Bad requests answer 400 with a message naming the
field, the allowed values and the value received; an unknown upload id answers 404.
"""

import base64
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from botocore.exceptions import ClientError

from p300_aws.keys import parse_landing_key
from p300_aws.names import LANDING_BUCKET

#: Presigned URLs stay valid this long (s).
URL_EXPIRES_S = 900
#: The ingest pipeline's file size limit (`p300.contract.DEFAULT_MAX_BYTES`, not imported: the
#: science core needs numpy, which this function's layers do not ship).
MAX_UPLOAD_BYTES = 256 * 1024 * 1024
#: S3's part numbers, and how many part URLs one request may ask for.
MAX_PART_NUMBER = 10_000
MAX_PARTS_PER_REQUEST = 100

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}\.parquet")
_ID_RULE = "1–64 letters, digits or '-', starting with a letter or digit"
_FILE_NAME_RULE = "1–108 letters, digits, '.', '_' or '-' ending in .parquet"


class UploadRequestError(ValueError):
    """A request the upload API refuses (HTTP 400)."""


@dataclass(frozen=True)
class Target:
    """Where an upload lands: a key of ``p300-landing-zone``."""

    subject: str
    session: str
    key: str


def landing_target(body: dict, *, now: datetime, token: str) -> Target:
    """The landing key a request's ``subject``, ``session`` and optional ``file_name`` name.

    Parameters
    ----------
    body : dict
        The request body.
    now : datetime
        Time stamped into the default file name (UTC).
    token : str
        Random hex making the default file name unique.

    Raises
    ------
    UploadRequestError
        When an id or the file name is missing or malformed.
    """
    subject = _checked_id(body, "subject")
    session = _checked_id(body, "session")
    file_name = body.get("file_name")
    if file_name is None:
        file_name = f"recording-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{token}.parquet"
    elif not isinstance(file_name, str) or not _FILE_NAME.fullmatch(file_name):
        raise UploadRequestError(f"file_name must be {_FILE_NAME_RULE}, got {file_name!r}")
    return Target(subject, session, f"subject_{subject}/session_{session}/{file_name}")


def checked_size(body: dict) -> int | None:
    """The optional ``size`` (bytes) of a single upload; `UploadRequestError` when invalid."""
    size = body.get("size")
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, int) or not 0 < size <= MAX_UPLOAD_BYTES:
        raise UploadRequestError(
            f"size must be a whole number of bytes from 1 to {MAX_UPLOAD_BYTES} (the ingest "
            f"limit), got {size!r}"
        )
    return size


def checked_upload_key(body: dict) -> str:
    """The ``key`` of a multipart upload: a ``subject_<S>/session_<N>/<file>`` landing key."""
    key = body.get("key")
    parsed = None
    if isinstance(key, str):
        try:
            parsed = parse_landing_key(key)
        except ValueError:
            parsed = None
    if parsed is None or parsed.session is None or key.count("/") != 2:
        raise UploadRequestError(
            f"key must be the subject_<S>/session_<N>/<file>.parquet key the upload was "
            f"started with, got {key!r}"
        )
    return key


def checked_part_numbers(body: dict) -> list[int]:
    """``part_numbers``: 1 to 100 distinct part numbers, each from 1 to 10,000."""
    numbers = body.get("part_numbers")
    valid = (
        isinstance(numbers, list)
        and 0 < len(numbers) <= MAX_PARTS_PER_REQUEST
        and all(_is_part_number(n) for n in numbers)
        and len(set(numbers)) == len(numbers)
    )
    if not valid:
        raise UploadRequestError(
            f"part_numbers must be a list of 1 to {MAX_PARTS_PER_REQUEST} distinct integers "
            f"from 1 to {MAX_PART_NUMBER}, got {numbers!r}"
        )
    return numbers


def checked_parts(body: dict) -> list[dict]:
    """``parts`` as S3's ``MultipartUpload.Parts``: ascending part numbers with their ETags."""
    parts = body.get("parts")
    rule = (
        "parts must be a non-empty list of {part_number, etag} in ascending part_number "
        "order, as S3 answered each part's PUT"
    )
    if not isinstance(parts, list) or not parts:
        raise UploadRequestError(f"{rule}, got {parts!r}")
    for part in parts:
        if not (
            isinstance(part, dict)
            and _is_part_number(part.get("part_number"))
            and isinstance(part.get("etag"), str)
            and part["etag"]
        ):
            raise UploadRequestError(f"{rule}, got the part {part!r}")
    numbers = [part["part_number"] for part in parts]
    if numbers != sorted(set(numbers)):
        raise UploadRequestError(f"{rule}, got part numbers {numbers}")
    return [{"PartNumber": part["part_number"], "ETag": part["etag"]} for part in parts]


def parse_body(event: dict) -> dict:
    """The JSON object body of an API Gateway proxy event (``{}`` when there is none)."""
    body = event.get("body")
    if body is None:
        return {}
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body).decode("utf-8", errors="replace")
    try:
        document = json.loads(body)
    except ValueError:
        raise UploadRequestError(
            f"the request body must be a JSON object, got {body[:80]!r}"
        ) from None
    if not isinstance(document, dict):
        raise UploadRequestError(f"the request body must be a JSON object, got {document!r}")
    return document


class UploadApi:
    """The routes of the upload API over an S3 client whose credentials may write the bucket.

    Parameters
    ----------
    s3
        A boto3 S3 client; its endpoint is the one written into the URLs.
    bucket : str
        The landing bucket.
    clock, new_token
        Sources of the default file name's time and random token (replaced in tests).
    """

    def __init__(
        self,
        s3,
        *,
        bucket: str = LANDING_BUCKET,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        new_token: Callable[[], str] = lambda: secrets.token_hex(4),
    ) -> None:
        self.s3, self.bucket, self.clock, self.new_token = s3, bucket, clock, new_token
        self.routes = {
            "/uploads": self.single_upload,
            "/uploads/multipart": self.start_multipart,
            "/uploads/multipart/{upload_id}/parts": self.part_urls,
            "/uploads/multipart/{upload_id}/complete": self.complete_multipart,
            "/uploads/multipart/{upload_id}/abort": self.abort_multipart,
        }

    def handle(self, event: dict) -> dict:
        """An API Gateway proxy event → its proxy response (errors mapped to 400/404/405)."""
        route = self.routes.get(event.get("resource", ""))
        if route is None:
            return _response(404, {"message": f"no route {event.get('resource')!r}"})
        if event.get("httpMethod") != "POST":
            return _response(405, {"message": f"use POST, got {event.get('httpMethod')!r}"})
        upload_id = (event.get("pathParameters") or {}).get("upload_id")
        try:
            body = parse_body(event)
            result = (
                route(body) if "{upload_id}" not in event["resource"] else route(body, upload_id)
            )
        except UploadRequestError as exc:
            return _response(400, {"message": str(exc)})
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchUpload":
                raise
            return _response(404, {"message": f"no multipart upload {upload_id!r} at that key"})
        return _response(200, result)

    def single_upload(self, body: dict) -> dict:
        target = self._target(body)
        size = checked_size(body)
        params = {"Bucket": self.bucket, "Key": target.key}
        if size is not None:
            params["ContentLength"] = size
        url = self._sign("put_object", params)
        return {"key": target.key, "method": "PUT", "url": url, "expires_in": URL_EXPIRES_S}

    def start_multipart(self, body: dict) -> dict:
        target = self._target(body)
        upload = self.s3.create_multipart_upload(Bucket=self.bucket, Key=target.key)
        return {"key": target.key, "upload_id": upload["UploadId"]}

    def part_urls(self, body: dict, upload_id: str) -> dict:
        key = checked_upload_key(body)
        params = {"Bucket": self.bucket, "Key": key, "UploadId": upload_id}
        urls = {
            str(number): self._sign("upload_part", {**params, "PartNumber": number})
            for number in checked_part_numbers(body)
        }
        return {"key": key, "upload_id": upload_id, "urls": urls, "expires_in": URL_EXPIRES_S}

    def complete_multipart(self, body: dict, upload_id: str) -> dict:
        key = checked_upload_key(body)
        parts = checked_parts(body)
        done = self.s3.complete_multipart_upload(
            Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
        return {"key": key, "etag": done.get("ETag"), "parts": len(parts)}

    def abort_multipart(self, body: dict, upload_id: str) -> dict:
        key = checked_upload_key(body)
        self.s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        return {"key": key, "aborted": True}

    def _target(self, body: dict) -> Target:
        return landing_target(body, now=self.clock(), token=self.new_token())

    def _sign(self, operation: str, params: dict) -> str:
        return self.s3.generate_presigned_url(operation, Params=params, ExpiresIn=URL_EXPIRES_S)


def _checked_id(body: dict, field: str) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise UploadRequestError(f"{field} must be {_ID_RULE}, got {value!r}")
    return value


def _is_part_number(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_PART_NUMBER


def _response(status: int, document: dict) -> dict:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(document),
    }
