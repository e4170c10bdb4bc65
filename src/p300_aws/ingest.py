"""Move one landing-zone upload into the raw bucket, or into quarantine with its reason.

The bytes validated and hashed are the bytes written: the landing object is read once and that
body is written (a file over the size limit is hashed in chunks and copied server-side on the
condition that its ETag is unchanged). The landing object is deleted only after every write was
read back with its version and SHA-256, and only if no newer upload replaced it: no byte is lost.

The study of an upload is its key's ``study_<name>/`` folder, else its ``study`` metadata, else
``system-a`` (`p300_aws.keys`); an upload naming a study that does not exist is quarantined
(`UNKNOWN_STUDY`). The result names the study version the item is processed with.
"""

import io
import json
import logging
import urllib.parse
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from p300.contract import DEFAULT_MAX_BYTES, Problem, ProblemCode, Severity
from p300.raw_io import validate_recording_bytes
from p300_aws import keys
from p300_aws.errors import BadKeyError, MissingObjectError
from p300_aws.events import Event, Result
from p300_aws.feature_params import needs_processing
from p300_aws.names import LANDING_BUCKET, RAW_BUCKET
from p300_aws.s3_objects import (
    ObjectHead,
    StoredObject,
    copy_verified,
    delete_object,
    find_object,
    head_object,
    put_verified,
    read_object,
    sha256_hex,
    stream_sha256,
)
from p300_aws.studies import StudyProfiles, UnknownStudyError

log = logging.getLogger(__name__)

#: Problem code of a landing key from which no subject/session can be read.
BAD_KEY = "BAD_KEY"
#: Problem code of an upload naming a study that does not exist.
UNKNOWN_STUDY = "UNKNOWN_STUDY"
#: Parquet schema metadata naming the study of a recording (when its key names none).
STUDY_METADATA = b"study"
#: Object metadata naming the landing key an object came from (URL-encoded: metadata is ASCII).
LANDING_KEY_METADATA = "landing-key"


class IngestEvent(Event):
    """One landing object to ingest: an item of the plan (`p300_aws.planning.LandingItem`)."""

    bucket: Literal[LANDING_BUCKET]  # type: ignore[valid-type]
    #: The landing key, already URL-decoded.
    key: Annotated[str, Field(min_length=1)]
    #: Study name → the version this execution processes it with (catch-up plans pin them);
    #: a study not named here is processed with its latest version.
    study_versions: dict[str, int] | None = None


class IngestResult(Result):
    """What `p300-ingest` returns (see the pipeline contract)."""

    outcome: Literal["ingested", "duplicate", "quarantined", "missing"]
    landing_key: str
    sha256: str | None = None
    study: str | None = None
    study_version: int | None = None
    subject: str | None = None
    session: str | None = None
    raw_key: str | None = None
    raw_version_id: str | None = None
    needs_processing: bool = False
    problems: list[dict[str, Any]] = Field(default_factory=list)
    quarantine_key: str | None = None


def ingest_object(
    s3,
    key: str,
    *,
    profiles: StudyProfiles,
    study_versions: dict[str, int] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> IngestResult:
    """Validate landing object ``key`` and move it to the raw bucket or to quarantine.

    Parameters
    ----------
    s3 : boto3 S3 client
    key : str
        Landing key, already URL-decoded.
    profiles : StudyProfiles
        The study profiles: the upload's study must exist, and a duplicate needs processing
        only when its features were made from other bytes or another profile's parameters.
    study_versions : dict of str to int, optional
        The version of each study to process with (default: the latest).
    max_bytes : int
        Larger files are quarantined (``FILE_TOO_LARGE``) without being parsed.
    """
    try:
        head = head_object(s3, LANDING_BUCKET, key)
        if head.size > max_bytes:
            return _quarantine_oversized(s3, head, max_bytes)
        landing = read_object(s3, LANDING_BUCKET, key)
    except MissingObjectError:
        # Another execution (an upload event racing the hourly catch-up) got there first.
        return IngestResult(outcome="missing", landing_key=key)
    digest = sha256_hex(landing.body)
    report = validate_recording_bytes(landing.body, max_bytes=max_bytes)
    problems = [problem.to_dict() for problem in report.problems]
    try:
        landing_ids = keys.parse_landing_key(key)
        ids = report.recording and keys.identify(
            landing_ids,
            file_subject=report.recording.subject,
            file_session=report.recording.session,
            file_study=_file_study(landing.body),
        )
    except BadKeyError as exc:
        problems.insert(0, _error(BAD_KEY, str(exc)))
        landing_ids, ids = None, None
    if ids is None:
        return _quarantine(s3, landing, digest, problems, landing_ids)
    try:
        profile = profiles.get(ids.study, (study_versions or {}).get(ids.study))
    except UnknownStudyError as exc:
        problems.insert(0, _error(UNKNOWN_STUDY, str(exc)))
        return _quarantine(s3, landing, digest, problems, landing_ids)
    return _store(s3, landing, digest, ids, problems, profile=profile)


def _error(code: str, message: str) -> dict:
    return {"code": code, "severity": str(Severity.ERROR), "message": message}


def _file_study(body: bytes) -> str | None:
    """The ``study`` of a valid Parquet file's schema metadata, None when it names none."""
    import pyarrow.parquet as pq  # already loaded: the file was just validated with it

    metadata = pq.ParquetFile(io.BytesIO(body)).schema_arrow.metadata or {}
    study = metadata.get(STUDY_METADATA)
    return None if study is None else study.decode(errors="replace")


def _store(s3, landing: StoredObject, digest: str, ids, problems, *, profile):
    raw_key = keys.raw_key(ids)
    current = find_object(s3, RAW_BUCKET, raw_key)
    ids_fields = {"study": ids.study, "study_version": profile.version, "subject": ids.subject,
                  "session": ids.session, "raw_key": raw_key}  # fmt: skip
    if current is not None and current.sha256 == digest:
        _delete_landing(s3, landing.head)
        return IngestResult(
            outcome="duplicate", landing_key=landing.head.key, sha256=digest, **ids_fields,
            raw_version_id=current.version_id,
            needs_processing=needs_processing(s3, ids, raw_sha256=digest, profile=profile),
            problems=problems,
        )  # fmt: skip
    written = put_verified(
        s3,
        RAW_BUCKET,
        raw_key,
        landing.body,
        metadata={
            LANDING_KEY_METADATA: urllib.parse.quote(landing.head.key),
            "study": ids.study,
            "subject": ids.subject,
            "session": ids.session,
        },
    )
    _delete_landing(s3, landing.head)
    return IngestResult(
        outcome="ingested", landing_key=landing.head.key, sha256=digest, **ids_fields,
        raw_version_id=written.version_id, needs_processing=True, problems=problems,
    )  # fmt: skip


def quarantine_record(
    landing_key: str, digest: str, problems: list[dict], *, now: datetime | None = None
) -> dict:
    """The ``.reason.json`` document of a rejected upload: its first error decides the code."""
    first_error = next(p for p in problems if p["severity"] == str(Severity.ERROR))
    return {
        "code": first_error["code"],
        "message": first_error["message"],
        "problems": problems,
        "landing_key": landing_key,
        "sha256": digest,
        "quarantined_at": (now or datetime.now(UTC)).isoformat(),
    }


def _quarantine(s3, landing: StoredObject, digest: str, problems, landing_ids) -> IngestResult:
    return _move_to_quarantine(s3, landing.head, digest, problems, landing_ids, landing.body)


def _quarantine_oversized(s3, head: ObjectHead, max_bytes: int) -> IngestResult:
    """Quarantine a file too large to read into memory: hashed in chunks, copied server-side."""
    problem = Problem(
        ProblemCode.FILE_TOO_LARGE,
        f"file is {head.size} bytes, more than the limit max_bytes={max_bytes}",
    )
    try:
        landing_ids = keys.parse_landing_key(head.key)
    except BadKeyError:
        landing_ids = None
    digest = stream_sha256(s3, head)
    return _move_to_quarantine(s3, head, digest, [problem.to_dict()], landing_ids, None)


def _move_to_quarantine(
    s3, head: ObjectHead, digest: str, problems, landing_ids, body: bytes | None
) -> IngestResult:
    """Write the landing object (``body``, or a server-side copy when None) and its reason to
    quarantine, verify both, then delete the landing object."""
    key = head.key
    record = quarantine_record(key, digest, problems)
    metadata = {LANDING_KEY_METADATA: urllib.parse.quote(key), "code": record["code"]}
    target = keys.quarantine_key(key)
    if body is None:
        copy_verified(s3, head, RAW_BUCKET, target, sha256=digest, metadata=metadata)
    else:
        put_verified(s3, RAW_BUCKET, target, body, metadata=metadata)
    put_verified(
        s3,
        RAW_BUCKET,
        keys.quarantine_reason_key(key),
        json.dumps(record, indent=2, ensure_ascii=False).encode(),
        metadata=metadata,
        content_type="application/json",
    )
    _delete_landing(s3, head)
    return IngestResult(
        outcome="quarantined",
        landing_key=key,
        sha256=digest,
        study=landing_ids.study if landing_ids else None,
        subject=landing_ids.subject if landing_ids else None,
        session=landing_ids.session if landing_ids else None,
        problems=problems,
        quarantine_key=target,
    )


def _delete_landing(s3, head: ObjectHead) -> None:
    """Delete the landing object unless a newer upload replaced it since ``head`` was taken."""
    now = find_object(s3, LANDING_BUCKET, head.key)
    if now is not None and now.etag != head.etag:
        log.warning("s3://%s/%s was re-uploaded meanwhile; kept", LANDING_BUCKET, now.key)
        return
    if now is not None:
        delete_object(s3, LANDING_BUCKET, head.key)
