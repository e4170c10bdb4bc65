"""The upload API's logic: presigned S3 URLs into the landing zone for one subject/session.

Recording bytes never pass through the Lambda: it only checks the request and signs URLs with
which the client sends the bytes straight to S3. Routes (all ``POST``, JSON bodies, behind an
API key), in `UPLOAD_ROUTES`:

- ``/uploads`` `SingleUpload` → one presigned ``PUT`` URL;
- ``/uploads/multipart`` `MultipartStart` → a multipart upload's key and id;
- ``/uploads/multipart/<upload_id>/parts`` `PartUrlsRequest` → a presigned ``PUT`` URL per part;
- ``/uploads/multipart/<upload_id>/complete`` `CompleteRequest`;
- ``/uploads/multipart/<upload_id>/abort`` `AbortRequest`.

Every object lands at ``[study_<name>/]subject_<S>/session_<N>/<file_name>``, a key the ingest
pipeline reads study, subject and session from (`p300_aws.keys`); without a ``study`` the
recording belongs to its file's ``study`` metadata, else to ``system-a``. The router
(`p300_aws.upload_routes`) answers a bad request 400 with a message naming the field, the
allowed values and the value received, and an unknown upload id 404.
"""

import base64
import functools
import json
import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from p300.limits import DEFAULT_MAX_BYTES
from p300_aws import keys
from p300_aws.errors import BadKeyError
from p300_aws.events import problems
from p300_aws.keys import check_id, parse_landing_key
from p300_aws.names import LANDING_BUCKET
from p300_aws.studies import StudyProfiles, UnknownStudyError

#: Presigned URLs stay valid this long (s).
URL_EXPIRES_S = 900
#: The ingest pipeline's file size limit.
MAX_UPLOAD_BYTES = DEFAULT_MAX_BYTES
#: S3's part numbers, and how many part URLs one request may ask for.
MAX_PART_NUMBER = 10_000
MAX_PARTS_PER_REQUEST = 100

_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}\.parquet")
_FILE_NAME_RULE = "1–108 letters, digits, '.', '_' or '-' ending in .parquet"


class UploadRequestError(ValueError):
    """A request the upload API refuses (HTTP 400)."""


def _file_name(value: str) -> str:
    if not _FILE_NAME.fullmatch(value):
        raise ValueError(f"file_name must be {_FILE_NAME_RULE}, got {value!r}")
    return value


def _upload_key(value: str) -> str:
    """A multipart upload's key: the ``[study_<name>/]subject_<S>/session_<N>/<file>`` it was
    started with."""
    try:
        parsed = parse_landing_key(value)
    except BadKeyError:
        parsed = None
    depth = 2 if parsed is None or parsed.study is None else 3
    if parsed is None or parsed.session is None or value.count("/") != depth:
        raise ValueError(
            f"key must be the [study_<name>/]subject_<S>/session_<N>/<file>.parquet key the "
            f"upload was started with, got {value!r}"
        )
    return value


def _distinct(numbers: list[int]) -> list[int]:
    if len(set(numbers)) != len(numbers):
        raise ValueError(f"part_numbers must be distinct, got {numbers}")
    return numbers


type SubjectId = Annotated[str, AfterValidator(functools.partial(check_id, name="subject"))]
type SessionId = Annotated[str, AfterValidator(functools.partial(check_id, name="session"))]
type StudyName = Annotated[str, AfterValidator(functools.partial(keys.check_study, name="study"))]
type FileName = Annotated[str, AfterValidator(_file_name)]
type UploadKey = Annotated[str, AfterValidator(_upload_key)]
type PartNumber = Annotated[int, Field(ge=1, le=MAX_PART_NUMBER)]


class Body(BaseModel):
    """A request body: JSON types only, no unknown fields."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class MultipartStart(Body):
    """Where an upload lands; without ``file_name``, a time-stamped unique one; without
    ``study``, the file's ``study`` metadata or else ``system-a``."""

    subject: SubjectId
    session: SessionId
    file_name: FileName | None = None
    study: StudyName | None = None


class SingleUpload(MultipartStart):
    #: Bytes the client will send (signed into the URL when given).
    size: Annotated[int, Field(ge=1, le=MAX_UPLOAD_BYTES)] | None = None


class AbortRequest(Body):
    key: UploadKey


class PartUrlsRequest(AbortRequest):
    part_numbers: Annotated[
        list[PartNumber],
        Field(min_length=1, max_length=MAX_PARTS_PER_REQUEST),
        AfterValidator(_distinct),
    ]


class Part(Body):
    part_number: PartNumber
    #: The ETag S3 answered the part's PUT with.
    etag: Annotated[str, Field(min_length=1)]


class CompleteRequest(AbortRequest):
    #: In ascending ``part_number`` order, each once.
    parts: Annotated[list[Part], Field(min_length=1)]

    def s3_parts(self) -> list[dict]:
        """``parts`` as S3's ``MultipartUpload.Parts``; `UploadRequestError` when unordered."""
        numbers = [part.part_number for part in self.parts]
        if numbers != sorted(set(numbers)):
            raise UploadRequestError(
                "parts must be in ascending part_number order, each once, as S3 answered each "
                f"part's PUT, got part numbers {numbers}"
            )
        return [{"PartNumber": part.part_number, "ETag": part.etag} for part in self.parts]


def parse_body[B: Body](model: type[B], body: str | None, *, base64_encoded: bool = False) -> B:
    """A request's JSON text as ``model``; `UploadRequestError` naming each bad field."""
    if body is None:
        document: Any = {}
    else:
        text = base64.b64decode(body).decode("utf-8", "replace") if base64_encoded else body
        try:
            document = json.loads(text)
        except ValueError:
            raise UploadRequestError(
                f"the request body must be a JSON object, got {text[:80]!r}"
            ) from None
    if not isinstance(document, dict):
        raise UploadRequestError(f"the request body must be a JSON object, got {document!r}")
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise UploadRequestError("; ".join(problems(exc))) from None


def landing_key(request: MultipartStart, *, now: datetime, token: str) -> str:
    """The landing key a request names; the default file name holds ``now`` (UTC) and
    ``token`` (random hex)."""
    file_name = request.file_name
    if file_name is None:
        file_name = f"recording-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{token}.parquet"
    return keys.landing_key(
        file_name, subject=request.subject, session=request.session, study=request.study
    )


class Uploads:
    """What each route does, over an S3 client whose credentials may write the bucket.

    Parameters
    ----------
    s3
        A boto3 S3 client; its endpoint is the one written into the URLs.
    bucket : str
        The landing bucket.
    clock, new_token
        Sources of the default file name's time and random token (replaced in tests).
    check_study
        Raises `UnknownStudyError` for a study that does not exist; default: reads the study
        store (`p300_aws.studies`) with ``s3``.
    """

    def __init__(
        self,
        s3,
        *,
        bucket: str = LANDING_BUCKET,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        new_token: Callable[[], str] = lambda: secrets.token_hex(4),
        check_study: Callable[[str], object] | None = None,
    ) -> None:
        self.s3, self.bucket, self.clock, self.new_token = s3, bucket, clock, new_token
        self.check_study = check_study or (lambda name: StudyProfiles(s3).latest(name))

    def single_upload(self, request: SingleUpload) -> dict:
        key = self._key(request)
        params = {"Bucket": self.bucket, "Key": key}
        if request.size is not None:
            params["ContentLength"] = request.size
        url = self._sign("put_object", params)
        return {"key": key, "method": "PUT", "url": url, "expires_in": URL_EXPIRES_S}

    def start_multipart(self, request: MultipartStart) -> dict:
        key = self._key(request)
        upload = self.s3.create_multipart_upload(Bucket=self.bucket, Key=key)
        return {"key": key, "upload_id": upload["UploadId"]}

    def part_urls(self, request: PartUrlsRequest, upload_id: str) -> dict:
        params = {"Bucket": self.bucket, "Key": request.key, "UploadId": upload_id}
        urls = {
            str(number): self._sign("upload_part", {**params, "PartNumber": number})
            for number in request.part_numbers
        }
        return {"key": request.key, "upload_id": upload_id, "urls": urls,
                "expires_in": URL_EXPIRES_S}  # fmt: skip

    def complete_multipart(self, request: CompleteRequest, upload_id: str) -> dict:
        parts = request.s3_parts()
        done = self.s3.complete_multipart_upload(
            Bucket=self.bucket, Key=request.key, UploadId=upload_id,
            MultipartUpload={"Parts": parts},
        )  # fmt: skip
        return {"key": request.key, "etag": done.get("ETag"), "parts": len(parts)}

    def abort_multipart(self, request: AbortRequest, upload_id: str) -> dict:
        self.s3.abort_multipart_upload(Bucket=self.bucket, Key=request.key, UploadId=upload_id)
        return {"key": request.key, "aborted": True}

    def _key(self, request: MultipartStart) -> str:
        """The request's landing key; a study that does not exist is refused (400) before any
        URL is signed: its upload would only be quarantined."""
        if request.study is not None:
            try:
                self.check_study(request.study)
            except UnknownStudyError as exc:
                raise UploadRequestError(str(exc)) from None
        return landing_key(request, now=self.clock(), token=self.new_token())

    def _sign(self, operation: str, params: dict) -> str:
        return self.s3.generate_presigned_url(operation, Params=params, ExpiresIn=URL_EXPIRES_S)


#: Path (``<name>`` marks a path parameter) → (body model, `Uploads` method): every route.
UPLOAD_ROUTES: dict[str, tuple[type[Body], Callable]] = {
    "/uploads": (SingleUpload, Uploads.single_upload),
    "/uploads/multipart": (MultipartStart, Uploads.start_multipart),
    "/uploads/multipart/<upload_id>/parts": (PartUrlsRequest, Uploads.part_urls),
    "/uploads/multipart/<upload_id>/complete": (CompleteRequest, Uploads.complete_multipart),
    "/uploads/multipart/<upload_id>/abort": (AbortRequest, Uploads.abort_multipart),
}
