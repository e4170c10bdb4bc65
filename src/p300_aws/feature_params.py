"""Whether a subject/session's features are current for its study's profile, and what the
metadata of a features object (or of a rejection record) says.

What the planning and ingest Lambdas need from preprocessing, without its array code: importing
this module loads no numpy, scipy or pyarrow, so those Lambdas start fast and stay small. The
parameters in force are the current profile of each study (`p300_aws.studies`).
"""

from p300.studies import StudyProfile
from p300_aws import keys
from p300_aws.names import FEATURES_BUCKET
from p300_aws.s3_objects import find_object

#: Metadata keys of a features object: what it was made from (raw bytes, study profile and its
#: parameters' hash), and the MLflow run that made it. A rejection record carries the raw
#: SHA-256, the study, its version and the hash of the whole profile (a montage is checked too).
RAW_SHA256, RAW_VERSION_ID, PARAMS_HASH, RUN_ID = (
    "raw-sha256",
    "raw-version-id",
    "params-hash",
    "mlflow-run-id",
)
STUDY, STUDY_VERSION, PROFILE_HASH, CODE = "study", "study-version", "profile-hash", "code"
#: What `features_state` says of a subject/session's features. `REJECTED`: preprocessing
#: refused these raw bytes with this profile (`keys.rejection_key` says why): nothing to redo.
CURRENT, STALE, MISSING, REJECTED = "current", "stale", "missing", "rejected"


def features_state(
    s3, ids: keys.SubjectSession, *, raw_sha256: str | None, profile: StudyProfile
) -> str:
    """`CURRENT` when the features of ``ids`` were made from these raw bytes (SHA-256; None:
    unknown, never current) with the parameters of ``profile`` (the current profile of
    ``ids.study``); else `REJECTED` when preprocessing refused these bytes with this very
    profile; else `STALE` when there are features, `MISSING` when there are none."""
    head = find_object(s3, FEATURES_BUCKET, keys.features_key(ids))
    if head is not None and _made_from(head.metadata, raw_sha256, PARAMS_HASH, profile.params_hash):
        return CURRENT
    rejection = find_object(s3, FEATURES_BUCKET, keys.rejection_key(ids))
    if rejection is not None and _made_from(
        rejection.metadata, raw_sha256, PROFILE_HASH, profile.hash()
    ):
        return REJECTED
    return MISSING if head is None else STALE


def _made_from(metadata: dict, raw_sha256: str | None, hash_key: str, hash_value: str) -> bool:
    return (
        raw_sha256 is not None
        and metadata.get(RAW_SHA256) == raw_sha256
        and metadata.get(hash_key) == hash_value
    )


def needs_processing(
    s3, ids: keys.SubjectSession, *, raw_sha256: str | None, profile: StudyProfile
) -> bool:
    """Whether preprocessing has work to do: features neither current nor refused already."""
    state = features_state(s3, ids, raw_sha256=raw_sha256, profile=profile)
    return state not in (CURRENT, REJECTED)
