"""A small S3 adapter: whole-object reads by version, verified writes, listing and deletes.

Every write stores the SHA-256 of the body as object metadata ``sha256`` and is read back
(``HeadObject`` of the written version) before the caller may rely on it, so a later step
(deleting the source, say) only runs once the bytes are durable. Network failures, throttling and
5xx answers become `TransientError`, which the state machines retry.
"""

import functools
import hashlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import botocore.exceptions

from p300_aws.errors import MissingObjectError, TransientError, VerificationError

SHA256_METADATA = "sha256"
_MISSING_CODES = {"404", "NoSuchKey", "NoSuchVersion", "NotFound"}
_TRANSIENT_CODES = {
    "InternalError",
    "RequestTimeout",
    "ServiceUnavailable",
    "SlowDown",
    "Throttling",
    "ThrottlingException",
}
_CONNECTION_ERRORS = (
    botocore.exceptions.ConnectionError,
    botocore.exceptions.HTTPClientError,
)


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 digest of ``data``."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class ObjectHead:
    """What ``HeadObject`` says about one object version (``version_id`` None when unversioned)."""

    bucket: str
    key: str
    version_id: str | None
    size: int
    etag: str
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def sha256(self) -> str | None:
        return self.metadata.get(SHA256_METADATA)


@dataclass(frozen=True)
class StoredObject:
    head: ObjectHead
    body: bytes


def _translate_errors[**P, R](function: Callable[P, R]) -> Callable[P, R]:
    """Raise `TransientError` for failures worth retrying, `MissingObjectError` for a 404."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except botocore.exceptions.ClientError as exc:
            error = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if error.get("Code") in _MISSING_CODES:
                raise MissingObjectError(f"{function.__name__}: {exc}") from exc
            if error.get("Code") in _TRANSIENT_CODES or status >= 500:
                raise TransientError(f"{function.__name__}: {exc}") from exc
            raise
        except _CONNECTION_ERRORS as exc:
            raise TransientError(f"{function.__name__}: {exc}") from exc

    return wrapper


@_translate_errors
def head_object(s3, bucket: str, key: str, *, version_id: str | None = None) -> ObjectHead:
    """The head of the current (or the given) version; `MissingObjectError` if there is none."""
    extra = {"VersionId": version_id} if version_id else {}
    response = s3.head_object(Bucket=bucket, Key=key, **extra)
    return _head(bucket, key, response)


def find_object(s3, bucket: str, key: str) -> ObjectHead | None:
    """The head of the current version, or None when the key does not exist."""
    try:
        return head_object(s3, bucket, key)
    except MissingObjectError:
        return None


@_translate_errors
def read_object(s3, bucket: str, key: str, *, version_id: str | None = None) -> StoredObject:
    """The whole body and head of the current (or the given) version of an object."""
    extra = {"VersionId": version_id} if version_id else {}
    response = s3.get_object(Bucket=bucket, Key=key, **extra)
    return StoredObject(head=_head(bucket, key, response), body=response["Body"].read())


@_translate_errors
def put_verified(
    s3,
    bucket: str,
    key: str,
    body: bytes,
    *,
    metadata: Mapping[str, str] | None = None,
    content_type: str = "application/octet-stream",
) -> ObjectHead:
    """Write ``body`` with ``metadata`` plus its ``sha256``; return the verified new version.

    Raises
    ------
    VerificationError
        When the written version does not read back with the body's size and SHA-256.
    """
    digest = sha256_hex(body)
    response = s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=body,
        ContentType=content_type,
        Metadata={**(metadata or {}), SHA256_METADATA: digest},
    )
    head = head_object(s3, bucket, key, version_id=response.get("VersionId"))
    if head.sha256 != digest or head.size != len(body):
        raise VerificationError(
            f"s3://{bucket}/{key} version {head.version_id} reads back with sha256 "
            f"{head.sha256} and {head.size} bytes; wrote sha256 {digest} and {len(body)} bytes"
        )
    return head


@_translate_errors
def stream_sha256(s3, head: ObjectHead, *, chunk_bytes: int = 8 * 1024 * 1024) -> str:
    """SHA-256 of the object version ``head`` describes, read in chunks (for large objects).

    The read is conditional on ``head.etag``: a replaced object fails instead of mixing versions.
    """
    extra = {"VersionId": head.version_id} if head.version_id else {}
    response = s3.get_object(Bucket=head.bucket, Key=head.key, IfMatch=head.etag, **extra)
    digest = hashlib.sha256()
    for chunk in response["Body"].iter_chunks(chunk_bytes):
        digest.update(chunk)
    return digest.hexdigest()


@_translate_errors
def copy_verified(
    s3, source: ObjectHead, bucket: str, key: str, *, sha256: str, metadata: Mapping[str, str]
) -> ObjectHead:
    """Server-side copy of the ``source`` version (unchanged since its head) with ``metadata``
    plus ``sha256``; returns the verified new version.

    Raises
    ------
    VerificationError
        When the copy does not read back with the source's size and the given SHA-256.
    """
    response = s3.copy_object(
        Bucket=bucket,
        Key=key,
        CopySource={"Bucket": source.bucket, "Key": source.key}
        | ({"VersionId": source.version_id} if source.version_id else {}),
        CopySourceIfMatch=source.etag,
        MetadataDirective="REPLACE",
        Metadata={**metadata, SHA256_METADATA: sha256},
    )
    head = head_object(s3, bucket, key, version_id=response.get("VersionId"))
    if head.sha256 != sha256 or head.size != source.size:
        raise VerificationError(
            f"copy s3://{bucket}/{key} version {head.version_id} reads back with "
            f"{head.size} bytes and sha256 {head.sha256}; expected {source.size} bytes, {sha256}"
        )
    return head


@_translate_errors
def delete_object(s3, bucket: str, key: str) -> None:
    """Delete the current version of ``key`` (a delete marker in a versioned bucket)."""
    s3.delete_object(Bucket=bucket, Key=key)


@_translate_errors
def list_keys(s3, bucket: str, *, prefix: str = "") -> list[str]:
    """Every key under ``prefix``, in S3's order (lexicographic)."""
    return list(_iter_keys(s3, bucket, prefix))


def _iter_keys(s3, bucket: str, prefix: str) -> Iterator[str]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for entry in page.get("Contents", []):
            yield entry["Key"]


def _head(bucket: str, key: str, response: dict) -> ObjectHead:
    version_id = response.get("VersionId")
    return ObjectHead(
        bucket=bucket,
        key=key,
        version_id=None if version_id in (None, "null") else version_id,
        size=int(response["ContentLength"]),
        etag=response["ETag"],
        metadata=dict(response.get("Metadata", {})),
    )
