"""Every subject/session and how far through the pipeline it got: landed, raw, processed or
quarantined (with the reason).

Whether features are current is the pipeline's own test (`p300_aws.feature_params.
features_state`: the raw SHA-256 and the preprocessing parameters' hash), with the parameters
the deployed pipeline runs with, so "processed" here means the catch-up run has nothing to do.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from p300_aws import keys
from p300_aws.errors import BadKeyError
from p300_aws.feature_params import CURRENT, MISSING, STALE, features_state, preprocessing_params
from p300_aws.names import (
    LANDING_BUCKET,
    PLAN_FUNCTION,
    QUARANTINE_PREFIX,
    RAW_BUCKET,
)
from p300_aws.s3_objects import head_object, list_keys, read_object
from p300_ops.services.labels import landing_ids

#: Stages, furthest first: a subject/session shows the furthest one it reached.
STAGES = ("processed", "raw", "landed", "quarantined")
#: How a features state reads in `p300 subjects`.
FEATURES_SHOWN = {CURRENT: "up to date", STALE: "stale", MISSING: "missing"}


@dataclass(frozen=True)
class Quarantined:
    landing_key: str
    code: str
    message: str
    quarantined_at: str | None = None


@dataclass(frozen=True)
class RawObject:
    """A subject/session's raw object and the `features_state` of its features."""

    key: str
    version_id: str | None
    sha256: str | None
    features: str = MISSING


@dataclass(frozen=True)
class BucketListing:
    """What the data buckets hold: landing keys, raw objects (by subject/session), quarantine."""

    landing_keys: Sequence[str] = ()
    raw: dict[tuple[str, str], RawObject] = field(default_factory=dict)
    quarantined: Sequence[Quarantined] = ()


@dataclass
class SubjectStatus:
    """Where one subject/session stands; ``subject`` "?" and ``session`` None where a landing key
    does not say (the file's metadata will)."""

    subject: str
    session: str | None
    stage: str = "landed"
    landed: list[str] = field(default_factory=list)
    raw_key: str | None = None
    raw_version_id: str | None = None
    raw_sha256: str | None = None
    features: str = FEATURES_SHOWN[MISSING]  # "up to date", "stale" or "missing"
    quarantined: list[Quarantined] = field(default_factory=list)


def subject_statuses(listing: BucketListing) -> list[SubjectStatus]:
    """One status per subject/session, sorted; "processed" when its features are current."""
    rows: dict[tuple[str, str | None], SubjectStatus] = {}

    def row(subject: str, session: str | None) -> SubjectStatus:
        return rows.setdefault((subject, session), SubjectStatus(subject, session))

    for key in listing.landing_keys:
        subject, session = landing_ids(key)
        row(subject or "?", session).landed.append(key)
    for item in listing.quarantined:
        subject, session = landing_ids(item.landing_key)
        row(subject or "?", session).quarantined.append(item)
    for (subject, session), raw in listing.raw.items():
        status = row(subject, session)
        status.raw_key, status.raw_version_id, status.raw_sha256 = (
            raw.key,
            raw.version_id,
            raw.sha256,
        )
        status.features = FEATURES_SHOWN[raw.features]
    for status in rows.values():
        status.stage = _stage(status)
    return [rows[k] for k in sorted(rows, key=lambda k: (k[0], k[1] or ""))]


def _stage(status: SubjectStatus) -> str:
    if status.raw_key is not None:
        return "processed" if status.features == FEATURES_SHOWN[CURRENT] else "raw"
    return "landed" if status.landed else "quarantined"


def pipeline_params_hash(lambda_client) -> str:
    """The hash of the preprocessing parameters the deployed pipeline runs with: its plan
    function's ``P300_PREPROCESSING_PARAMS`` (System A's defaults when it sets none)."""
    try:
        config = lambda_client.get_function_configuration(FunctionName=PLAN_FUNCTION)
    except lambda_client.exceptions.ResourceNotFoundException:
        config = {}
    variables = config.get("Environment", {}).get("Variables", {})
    return preprocessing_params(environ=variables).hash()


def list_buckets(s3, *, params_hash: str) -> BucketListing:
    """Read the landing and raw buckets, and the state of each raw object's features.

    Buckets are read in the direction objects move (landing → raw → features), so an object
    moving during the listing is seen at least once.
    """
    landing_keys = list_keys(s3, LANDING_BUCKET)
    raw, quarantined = {}, []
    for key in list_keys(s3, RAW_BUCKET):
        if key.startswith(QUARANTINE_PREFIX):
            if key.endswith(keys.REASON_SUFFIX):
                quarantined.append(_read_reason(s3, key))
            continue
        try:
            ids = keys.parse_raw_key(key)
        except BadKeyError:
            continue  # not ours: ingest never writes such keys
        head = head_object(s3, RAW_BUCKET, key)
        state = features_state(s3, ids, raw_sha256=head.sha256, params_hash=params_hash)
        raw[ids.subject, ids.session] = RawObject(key, head.version_id, head.sha256, state)
    return BucketListing(landing_keys=landing_keys, raw=raw, quarantined=quarantined)


def list_subjects(s3, lambda_client) -> list[SubjectStatus]:
    """Every subject/session of the running pipeline (`list_buckets`, `subject_statuses`)."""
    return subject_statuses(list_buckets(s3, params_hash=pipeline_params_hash(lambda_client)))


def _read_reason(s3, key: str) -> Quarantined:
    landing_key = key.removeprefix(QUARANTINE_PREFIX).removesuffix(keys.REASON_SUFFIX)
    try:
        reason = json.loads(read_object(s3, RAW_BUCKET, key).body)
    except ValueError as exc:
        return Quarantined(landing_key, "UNREADABLE_REASON", f"{key} is not JSON: {exc}")
    return Quarantined(
        reason.get("landing_key", landing_key),
        reason.get("code", "?"),
        reason.get("message", ""),
        reason.get("quarantined_at"),
    )
