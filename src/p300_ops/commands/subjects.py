"""`p300 subjects`: every subject/session and how far through the pipeline it got."""

import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field

import click
from rich.console import Console
from rich.table import Table

from p300_aws import keys as layout
from p300_aws.errors import BadKeyError
from p300_aws.names import FEATURES_BUCKET, LANDING_BUCKET, QUARANTINE_PREFIX, RAW_BUCKET
from p300_aws.s3_objects import SHA256_METADATA
from p300_ops.commands.common import aws_errors, cloud_clients, echo_json, home_option, json_option
from p300_ops.commands.keys import landing_ids

#: Stages, furthest first: a subject/session shows the furthest one it reached.
STAGES = ("processed", "raw", "landed", "quarantined")


@dataclass(frozen=True)
class Quarantined:
    landing_key: str
    code: str
    message: str
    quarantined_at: str | None = None


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
    features: str = "missing"  # "up to date", "stale" or "missing"
    quarantined: list[Quarantined] = field(default_factory=list)


@dataclass(frozen=True)
class BucketListing:
    """What the three data buckets hold: landing keys, raw and features metadata, quarantine."""

    landing_keys: Sequence[str] = ()
    #: (subject, session) → (key, version id, sha256 metadata or None)
    raw: dict[tuple[str, str], tuple[str, str | None, str | None]] = field(default_factory=dict)
    #: (subject, session) → the ``raw-sha256`` metadata of the current features object
    features_raw_sha256: dict[tuple[str, str], str | None] = field(default_factory=dict)
    quarantined: Sequence[Quarantined] = ()


def subject_statuses(listing: BucketListing) -> list[SubjectStatus]:
    """One status per subject/session, sorted; features are "up to date" only when their
    ``raw-sha256`` equals the current raw object's ``sha256``."""
    rows: dict[tuple[str, str | None], SubjectStatus] = {}

    def row(subject: str, session: str | None) -> SubjectStatus:
        return rows.setdefault((subject, session), SubjectStatus(subject, session))

    for key in listing.landing_keys:
        subject, session = landing_ids(key)
        row(subject or "?", session).landed.append(key)
    for item in listing.quarantined:
        subject, session = landing_ids(item.landing_key)
        row(subject or "?", session).quarantined.append(item)
    for (subject, session), (key, version_id, sha256) in listing.raw.items():
        status = row(subject, session)
        status.raw_key, status.raw_version_id, status.raw_sha256 = key, version_id, sha256
        if (subject, session) in listing.features_raw_sha256:
            fresh = sha256 is not None and listing.features_raw_sha256[subject, session] == sha256
            status.features = "up to date" if fresh else "stale"
    for status in rows.values():
        status.stage = _stage(status)
    return [rows[k] for k in sorted(rows, key=lambda k: (k[0], k[1] or ""))]


def _stage(status: SubjectStatus) -> str:
    if status.raw_key is not None:
        return "processed" if status.features == "up to date" else "raw"
    return "landed" if status.landed else "quarantined"


def list_buckets(s3) -> BucketListing:
    """Read the landing, raw and features buckets (heads for metadata, quarantine reasons).

    Buckets are read in the direction objects move (landing → raw → features), so an object
    moving during the listing is seen at least once.
    """
    landing_keys = list(_keys(s3, LANDING_BUCKET))
    raw, quarantined = {}, []
    for key in _keys(s3, RAW_BUCKET):
        if key.startswith(QUARANTINE_PREFIX):
            if key.endswith(layout.REASON_SUFFIX):
                quarantined.append(_read_reason(s3, key))
            continue
        ids = _ids(layout.parse_raw_key, key)
        if ids:
            head = s3.head_object(Bucket=RAW_BUCKET, Key=key)
            raw[ids] = (key, head.get("VersionId"), head["Metadata"].get(SHA256_METADATA))
    features = {}
    for key in _keys(s3, FEATURES_BUCKET):
        ids = _ids(layout.parse_features_key, key)
        if ids:
            head = s3.head_object(Bucket=FEATURES_BUCKET, Key=key)
            features[ids] = head["Metadata"].get("raw-sha256")
    return BucketListing(
        landing_keys=landing_keys,
        raw=raw,
        features_raw_sha256=features,
        quarantined=quarantined,
    )


def _ids(parse, key: str) -> tuple[str, str] | None:
    try:
        ids = parse(key)
    except BadKeyError:
        return None
    return ids.subject, ids.session


def _keys(s3, bucket: str) -> Iterator[str]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            yield item["Key"]


def _read_reason(s3, key: str) -> Quarantined:
    landing_key = key.removeprefix(QUARANTINE_PREFIX).removesuffix(layout.REASON_SUFFIX)
    try:
        reason = json.loads(s3.get_object(Bucket=RAW_BUCKET, Key=key)["Body"].read())
    except ValueError as exc:
        return Quarantined(landing_key, "UNREADABLE_REASON", f"{key} is not JSON: {exc}")
    return Quarantined(
        reason.get("landing_key", landing_key),
        reason.get("code", "?"),
        reason.get("message", ""),
        reason.get("quarantined_at"),
    )


def statuses_table(statuses: Sequence[SubjectStatus]) -> Table:
    """A rich table: one line per subject/session."""
    colours = {"processed": "green", "raw": "yellow", "landed": "cyan", "quarantined": "red"}
    table = Table("subject", "session", "stage", "raw (version, sha256)", "features", "notes")
    for s in statuses:
        raw = f"{s.raw_version_id or '-'}, {(s.raw_sha256 or '-')[:12]}" if s.raw_key else "-"
        notes = [f"landed: {key}" for key in s.landed]
        notes += [f"quarantined {q.landing_key}: {q.code}: {q.message}" for q in s.quarantined]
        table.add_row(
            s.subject,
            s.session or "-",
            f"[{colours[s.stage]}]{s.stage}[/]",
            raw,
            s.features if s.raw_key else "-",
            "\n".join(notes),
        )
    return table


@click.command()
@home_option
@json_option
def subjects(home, as_json) -> None:
    """Show every subject/session: landed, raw, processed or quarantined.

    Processed means the features were computed from the current raw object (their raw-sha256
    matches its sha256).

    \b
    Example:
      p300 subjects --json
    """
    s3 = cloud_clients(home).s3
    with aws_errors("listing the buckets"):
        statuses = subject_statuses(list_buckets(s3))
    if as_json:
        echo_json([asdict(s) for s in statuses])
    elif not statuses:
        click.echo(f"no subjects yet: upload to s3://{LANDING_BUCKET} (p300 upload, p300 generate)")
    else:
        Console().print(statuses_table(statuses))
