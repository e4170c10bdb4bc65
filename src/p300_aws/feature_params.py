"""Whether a features object is current for its study's profile, and what its metadata says.

What the planning and ingest Lambdas need from preprocessing, without its array code: importing
this module loads no numpy, scipy or pyarrow, so those Lambdas start fast and stay small. The
parameters in force are the current profile of each study (`p300_aws.studies`).
"""

from p300_aws import keys
from p300_aws.names import FEATURES_BUCKET
from p300_aws.s3_objects import find_object

#: Metadata keys of a features object: what it was made from (raw bytes, study profile and its
#: parameters' hash), and the MLflow run that made it.
RAW_SHA256, RAW_VERSION_ID, PARAMS_HASH, RUN_ID = (
    "raw-sha256",
    "raw-version-id",
    "params-hash",
    "mlflow-run-id",
)
STUDY, STUDY_VERSION = "study", "study-version"
#: What `features_state` says of a subject/session's features.
CURRENT, STALE, MISSING = "current", "stale", "missing"


def features_state(
    s3, ids: keys.SubjectSession, *, raw_sha256: str | None, params_hash: str
) -> str:
    """`CURRENT` when the features of ``ids`` were made from these raw bytes (SHA-256; None:
    unknown, never current) and parameters (the hash of the current profile of ``ids.study``),
    `STALE` when they were not, else `MISSING`."""
    head = find_object(s3, FEATURES_BUCKET, keys.features_key(ids))
    if head is None:
        return MISSING
    current = (
        raw_sha256 is not None
        and head.metadata.get(RAW_SHA256) == raw_sha256
        and head.metadata.get(PARAMS_HASH) == params_hash
    )
    return CURRENT if current else STALE


def features_are_current(s3, ids: keys.SubjectSession, *, raw_sha256: str, params_hash: str):
    """Whether the features of ``ids`` exist and were made from these raw bytes and params."""
    return features_state(s3, ids, raw_sha256=raw_sha256, params_hash=params_hash) == CURRENT
