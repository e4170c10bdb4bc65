"""The per-subject serving registry in S3 (bucket ``p300-model-serving``).

Layout, per study and subject::

    <study>/<subject>/routing.json                    p300_serving.subject_models.SubjectRouting
    <study>/<subject>/bundles/<model_version>.zip     the zipped bundle of one model version

A separate bucket, not a prefix of an existing one: the prediction function gets read access to
exactly this (and the release commands are its only writers), and the bucket is versioned, so
every routing document ever written stays readable. Bundles are immutable: a version's bundle is
written once. Routing documents are replaced with conditional writes (``If-Match`` the ETag
read, ``If-None-Match: *`` for the first), so two releases of one subject at the same time
cannot silently undo each other: the second gets `RoutingChangedError`.

`S3SubjectModels` is the app's reader (`p300_serving.subject_models.SubjectModels`), wired in
the predict function's handler; the other functions serve the release commands.
"""

import os
from collections.abc import Callable, Mapping

import botocore.exceptions

from p300_aws.errors import MissingObjectError
from p300_aws.names import MODEL_SERVING_BUCKET
from p300_aws.s3_objects import find_object, put_verified, read_object
from p300_serving.subject_models import SubjectRouting, parse_routing

BUCKET_ENV = "P300_MODEL_SERVING_BUCKET"
ROUTING_FILE = "routing.json"


class RoutingChangedError(RuntimeError):
    """The routing document changed between reading and writing it (another release ran)."""


def subject_prefix(study: str, subject: str) -> str:
    return f"{study}/{subject}/"


def routing_key(study: str, subject: str) -> str:
    """Key of a subject's routing document."""
    return f"{subject_prefix(study, subject)}{ROUTING_FILE}"


def bundle_key(study: str, subject: str, model_version: str) -> str:
    """Key of the zipped bundle of one model version of a subject."""
    return f"{subject_prefix(study, subject)}bundles/{model_version}.zip"


class S3SubjectModels:
    """The app's reads of the registry; the S3 client is made on first use (a cold start that
    only serves the population model never imports boto3).

    Parameters
    ----------
    bucket : str
    client : callable
        Makes the S3 client.
    """

    def __init__(self, bucket: str = MODEL_SERVING_BUCKET, *, client: Callable | None = None):
        self.bucket = bucket
        self._make_client = client or _default_client
        self._client = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "S3SubjectModels":
        """The registry in ``$P300_MODEL_SERVING_BUCKET`` (default `MODEL_SERVING_BUCKET`)."""
        return cls(environ.get(BUCKET_ENV) or MODEL_SERVING_BUCKET)

    @property
    def s3(self):
        if self._client is None:
            self._client = self._make_client()
        return self._client

    def read_routing(self, study: str, subject: str) -> bytes | None:
        try:
            return read_object(self.s3, self.bucket, routing_key(study, subject)).body
        except MissingObjectError:
            return None

    def read_bundle(self, study: str, subject: str, model_version: str) -> bytes:
        return read_object(self.s3, self.bucket, bundle_key(study, subject, model_version)).body


def load_routing(s3, study: str, subject: str) -> tuple[SubjectRouting | None, str | None]:
    """The subject's routing and its ETag (what `save_routing` must find unchanged), or
    ``(None, None)`` when the subject has none."""
    key = routing_key(study, subject)
    try:
        stored = read_object(s3, MODEL_SERVING_BUCKET, key)
    except MissingObjectError:
        return None, None
    return parse_routing(stored.body, source=f"s3://{MODEL_SERVING_BUCKET}/{key}"), stored.head.etag


def save_routing(s3, routing: SubjectRouting, *, etag: str | None) -> None:
    """Write ``routing`` if the stored document is still the one with ``etag`` (None: if there
    is none yet).

    Raises
    ------
    RoutingChangedError
        When another write came first; nothing was written.
    """
    key = routing_key(routing.study, routing.subject)
    condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
    try:
        s3.put_object(
            Bucket=MODEL_SERVING_BUCKET,
            Key=key,
            Body=routing.model_dump_json(indent=2).encode(),
            ContentType="application/json",
            **condition,
        )
    except botocore.exceptions.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code not in ("PreconditionFailed", "ConditionalRequestConflict"):
            raise
        raise RoutingChangedError(
            f"the routing of subject {routing.subject!r} of study {routing.study!r} changed "
            f"while it was being updated (another release?); nothing was written: run again"
        ) from None


def put_bundle(s3, study: str, subject: str, model_version: str, data: bytes) -> str:
    """Store the zipped bundle of a model version unless it is there already; returns its key."""
    key = bundle_key(study, subject, model_version)
    if find_object(s3, MODEL_SERVING_BUCKET, key) is None:
        put_verified(s3, MODEL_SERVING_BUCKET, key, data, content_type="application/zip")
    return key


def _default_client():
    import boto3

    return boto3.client("s3")
