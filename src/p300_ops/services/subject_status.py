"""Every subject/session of every study and how far through the pipeline it got: landed, raw,
processed, rejected by preprocessing or quarantined (with the reason).

Whether features are current is the pipeline's own test (`p300_aws.feature_params.
features_state`: the raw SHA-256 and the parameters' hash of the current profile of the study),
so "processed" here means the catch-up run has nothing to do.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from p300_aws import keys
from p300_aws.errors import BadKeyError
from p300_aws.feature_params import CURRENT, MISSING, REJECTED, STALE, features_state
from p300_aws.names import FEATURES_BUCKET, LANDING_BUCKET, QUARANTINE_PREFIX, RAW_BUCKET
from p300_aws.s3_objects import head_object, list_keys, read_object
from p300_aws.studies import StudyProfiles, UnknownStudyError
from p300_ops.services.labels import landing_ids, landing_study

#: Stages, furthest first: a subject/session shows the furthest one it reached.
STAGES = ("processed", "rejected", "raw", "landed", "quarantined")
#: How a features state reads in `p300 subjects`.
FEATURES_SHOWN = {CURRENT: "up to date", STALE: "stale", MISSING: "missing", REJECTED: "none"}


@dataclass(frozen=True)
class Quarantined:
    landing_key: str
    code: str
    message: str
    quarantined_at: str | None = None


@dataclass(frozen=True)
class Rejection:
    """Why preprocessing refused a recording (`p300_aws.processing`): a profile that does not
    fit it, or a rejection policy that left no usable epochs."""

    code: str
    message: str
    rejected_at: str | None = None


@dataclass(frozen=True)
class RawObject:
    """A subject/session's raw object and the `features_state` of its features (for the
    current profile of its study), with the rejection when preprocessing refused it."""

    key: str
    version_id: str | None
    sha256: str | None
    features: str = MISSING
    rejection: Rejection | None = None


@dataclass(frozen=True)
class BucketListing:
    """What the data buckets hold: landing keys, raw objects (by study, subject and session),
    quarantine."""

    landing_keys: Sequence[str] = ()
    raw: dict[tuple[str, str, str], RawObject] = field(default_factory=dict)
    quarantined: Sequence[Quarantined] = ()


@dataclass
class SubjectStatus:
    """Where one subject/session of one study stands; ``subject`` "?" and ``session`` None where
    a landing key does not say (the file's metadata will); a landing key without a study folder
    is shown under ``system-a``, as it will be ingested unless its file names another study."""

    study: str
    subject: str
    session: str | None
    stage: str = "landed"
    landed: list[str] = field(default_factory=list)
    raw_key: str | None = None
    raw_version_id: str | None = None
    raw_sha256: str | None = None
    features: str = FEATURES_SHOWN[MISSING]  # "up to date", "stale", "missing" or "none"
    quarantined: list[Quarantined] = field(default_factory=list)
    rejection: Rejection | None = None


def subject_statuses(listing: BucketListing) -> list[SubjectStatus]:
    """One status per study and subject/session, sorted; "processed" when its features are
    current."""
    rows: dict[tuple[str, str, str | None], SubjectStatus] = {}

    def row(study: str, subject: str, session: str | None) -> SubjectStatus:
        return rows.setdefault((study, subject, session), SubjectStatus(study, subject, session))

    def landing_row(key: str) -> SubjectStatus:
        subject, session = landing_ids(key)
        return row(landing_study(key) or "?", subject or "?", session)

    for key in listing.landing_keys:
        landing_row(key).landed.append(key)
    for item in listing.quarantined:
        landing_row(item.landing_key).quarantined.append(item)
    for (study, subject, session), raw in listing.raw.items():
        status = row(study, subject, session)
        status.raw_key, status.raw_version_id, status.raw_sha256 = (
            raw.key,
            raw.version_id,
            raw.sha256,
        )
        status.features = FEATURES_SHOWN[raw.features]
        status.rejection = raw.rejection
    for status in rows.values():
        status.stage = _stage(status)
    return [rows[k] for k in sorted(rows, key=lambda k: (k[0], k[1], k[2] or ""))]


def _stage(status: SubjectStatus) -> str:
    if status.raw_key is not None:
        if status.rejection is not None:
            return "rejected"
        return "processed" if status.features == FEATURES_SHOWN[CURRENT] else "raw"
    return "landed" if status.landed else "quarantined"


def list_buckets(s3, *, profiles: StudyProfiles) -> BucketListing:
    """Read the landing and raw buckets, and the state of each raw object's features for the
    current profile of its study.

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
        try:
            profile = profiles.latest(ids.study)
        except UnknownStudyError:  # not ingested by the pipeline: nothing of it is current
            state = STALE
        else:
            state = features_state(s3, ids, raw_sha256=head.sha256, profile=profile)
        rejection = _read_rejection(s3, ids) if state == REJECTED else None
        raw[ids.study, ids.subject, ids.session] = RawObject(
            key, head.version_id, head.sha256, state, rejection
        )
    return BucketListing(landing_keys=landing_keys, raw=raw, quarantined=quarantined)


def _read_rejection(s3, ids: keys.SubjectSession) -> Rejection:
    key = keys.rejection_key(ids)
    try:
        record = json.loads(read_object(s3, FEATURES_BUCKET, key).body)
    except ValueError as exc:
        return Rejection("UNREADABLE_REASON", f"{key} is not JSON: {exc}")
    return Rejection(record.get("code", "?"), record.get("message", ""), record.get("rejected_at"))


def list_subjects(s3, *, study: str | None = None) -> list[SubjectStatus]:
    """Every subject/session of the running pipeline (`list_buckets`, `subject_statuses`), or
    only those of ``study``.

    Raises
    ------
    UnknownStudyError
        When ``study`` names no study.
    """
    profiles = StudyProfiles(s3)
    if study is not None:
        profiles.latest(study)  # an unknown study is an error, not an empty table
    statuses = subject_statuses(list_buckets(s3, profiles=profiles))
    return [s for s in statuses if study is None or s.study == study]


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
