"""Decide what one execution of ``p300-ingest-and-process`` works on.

Event mode: the execution input is the raw EventBridge "Object Created" event of an upload to the
landing zone; the plan is that one object (keys arrive URL-encoded). Catch-up mode (the hourly
rule's ``{"catch_up": true}``): every object waiting in the landing zone, plus every raw object
whose features are missing or stale (made from other bytes, or with other parameters than its
study's current profile) and that no landing object is about to replace. A catch-up plan pins
the version of every study, so the whole execution processes each study with one version. At the end
of an execution, ``{"summarize": true, "mode", "results"}`` groups the items' outcomes. The
backfill's last step, ``{"backfill_report": true, ...}``, is `p300_aws.backfill`'s.
"""

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Discriminator, RootModel, Tag

from p300_aws import keys
from p300_aws.backfill import BackfillReport, BackfillReportRequest, report_backfill
from p300_aws.errors import BadKeyError
from p300_aws.events import Event, Result, StepOutput
from p300_aws.feature_params import needs_processing
from p300_aws.names import LANDING_BUCKET, RAW_BUCKET
from p300_aws.s3_objects import head_object, list_keys
from p300_aws.studies import StudyProfiles

EVENT_MODE, CATCH_UP_MODE = "event", "catch_up"
type Mode = Literal["event", "catch_up"]
#: How an execution's items end: features written; nothing to do (duplicates, features already
#: current); refused by preprocessing (a profile that does not fit, no usable epochs left);
#: refused by ingest (moved to quarantine); failed.
SUMMARY_GROUPS = ("processed", "skipped", "rejected", "quarantined", "failed")
#: Item outcomes that name their own group; every other outcome is skipped.
_OWN_GROUP = ("processed", "rejected", "quarantined", "failed")


class S3Bucket(StepOutput):
    name: Literal[LANDING_BUCKET]  # type: ignore[valid-type]


class S3Object(StepOutput):
    #: URL-encoded (spaces as ``+``), as S3 events carry keys.
    key: str


class S3EventDetail(StepOutput):
    bucket: S3Bucket
    object: S3Object


class S3ObjectCreated(StepOutput):
    """An EventBridge "Object Created" event of the landing zone (the keys read; others pass)."""

    source: Literal["aws.s3"]
    detail: S3EventDetail


class CatchUpRequest(Event):
    """The hourly rule's input: plan everything waiting."""

    catch_up: Literal[True]


class SummarizeRequest(Event):
    """The execution's last step: group the per-item ``results`` (see `summarize`)."""

    summarize: Literal[True]
    mode: Mode
    results: list[dict[str, Any]]


def request_kind(event: object) -> str:
    """Which `PlanEvent` an input is: ``summarize``, ``catch_up`` or ``backfill_report`` when it
    has that key, else an S3 event (EventBridge's own events cannot carry a tag of ours)."""
    if isinstance(event, Mapping):
        tagged = ("summarize", "catch_up", "backfill_report")
        return next((kind for kind in tagged if kind in event), "s3_event")
    kinds = {SummarizeRequest: "summarize", CatchUpRequest: "catch_up",
             BackfillReportRequest: "backfill_report"}  # fmt: skip
    return kinds.get(type(event), "s3_event")


class PlanEvent(RootModel):
    """Every ``p300-plan-ingest`` event."""

    root: Annotated[
        Annotated[S3ObjectCreated, Tag("s3_event")]
        | Annotated[CatchUpRequest, Tag("catch_up")]
        | Annotated[SummarizeRequest, Tag("summarize")]
        | Annotated[BackfillReportRequest, Tag("backfill_report")],
        Discriminator(request_kind),
    ]


class LandingItem(Result):
    """A landing object to ingest (`p300_aws.ingest.IngestEvent`)."""

    bucket: str
    key: str
    #: Catch-up only: the version of each study the execution processes with.
    study_versions: dict[str, int] | None = None


class RawItem(Result):
    """A raw object whose features are missing or stale: goes straight to preprocessing."""

    raw_key: str
    raw_version_id: str | None
    study: str
    study_version: int
    subject: str
    session: str
    sha256: str | None
    needs_processing: Literal[True] = True


class Plan(Result):
    """What one execution works on."""

    items: list[LandingItem | RawItem]
    mode: Mode


class SummaryEntry(Result):
    study: str | None
    subject: str | None
    session: str | None
    key: str | None
    reason: str


class ExecutionSummary(Result):
    """The output of an execution: the items by outcome, and every item's result."""

    mode: Mode
    processed: list[SummaryEntry]
    skipped: list[SummaryEntry]
    rejected: list[SummaryEntry]
    quarantined: list[SummaryEntry]
    failed: list[SummaryEntry]
    results: list[dict[str, Any]]


def plan_from_event(event: S3ObjectCreated) -> Plan:
    """The plan of an S3 "Object Created" event: that one object, its key URL-decoded."""
    key = keys.decode_event_key(event.detail.object.key)
    return Plan(items=[LandingItem(bucket=event.detail.bucket.name, key=key)], mode=EVENT_MODE)


def plan_catch_up(s3, *, profiles: StudyProfiles) -> Plan:
    """Every landing object, then every raw object whose features are missing or stale for the
    current profile of its study; every item pinned to the studies' current versions."""
    versions = {name: profiles.latest_version(name) for name in profiles.names()}
    landing_keys = [key for key in list_keys(s3, LANDING_BUCKET) if not key.endswith("/")]
    pending = {_target_raw_key(key) for key in landing_keys} - {None}
    items: list[LandingItem | RawItem] = [
        LandingItem(bucket=LANDING_BUCKET, key=key, study_versions=versions) for key in landing_keys
    ]
    for raw_key in list_keys(s3, RAW_BUCKET, prefix=keys.LAYOUT_PREFIX):
        try:
            ids = keys.parse_raw_key(raw_key)
        except BadKeyError:
            continue  # not ours (a user's stray object); ingest never writes such keys
        if raw_key in pending or ids.study not in versions:
            # The landing object will decide whether this subject/session needs work; a study
            # without a profile cannot have been ingested (its raw object is not ours).
            continue
        profile = profiles.get(ids.study, versions[ids.study])
        head = head_object(s3, RAW_BUCKET, raw_key)
        if not needs_processing(s3, ids, raw_sha256=head.sha256, profile=profile):
            continue
        items.append(
            RawItem(raw_key=raw_key, raw_version_id=head.version_id, study=ids.study,
                    study_version=profile.version, subject=ids.subject, session=ids.session,
                    sha256=head.sha256)
        )  # fmt: skip
    return Plan(items=items, mode=CATCH_UP_MODE)


def _target_raw_key(landing_key: str) -> str | None:
    """The raw key a landing key will be ingested to, when the key alone says so.

    A key without a study folder is taken for ``system-a``'s: its file could name another
    study, and then the raw object this hides is processed by the next catch-up instead.
    """
    try:
        landing = keys.parse_landing_key(landing_key)
    except BadKeyError:
        return None
    if landing.subject is None or landing.session is None:
        return None
    study = landing.study or keys.DEFAULT_STUDY
    return keys.raw_key(keys.SubjectSession(study, landing.subject, landing.session))


def summarize(results: list[Mapping]) -> dict:
    """Group the per-item results of one execution for its output.

    Parameters
    ----------
    results : list of dict
        Per item: a `p300-preprocess` output, a `p300-ingest` output that needed no processing,
        or a caught failure ``{"outcome": "failed", "error", "cause", "item"}``.

    Returns
    -------
    dict
        `SUMMARY_GROUPS`, each a list of ``{"study", "subject", "session", "key", "reason"}``.
    """
    groups: dict[str, list[dict]] = {name: [] for name in SUMMARY_GROUPS}
    for result in results:
        outcome = result.get("outcome")
        groups[outcome if outcome in _OWN_GROUP else "skipped"].append(_entry(result))
    return groups


def _entry(result: Mapping) -> dict:
    item = result.get("item") or {}
    outcome = result.get("outcome")
    if outcome == "failed":
        reason = f"{result.get('error')}: {result.get('cause')}"
    elif outcome == "quarantined":
        problems = result.get("problems", [])
        reason = next((p["code"] for p in problems if p.get("severity") == "error"), "")
    elif outcome == "rejected":
        reason = str(result.get("code"))
    else:
        reason = str(outcome)
    return {
        "study": result.get("study", item.get("study")),
        "subject": result.get("subject", item.get("subject")),
        "session": result.get("session", item.get("session")),
        "key": result.get("rejection_key")
        or result.get("features_key")
        or result.get("landing_key")
        or item.get("key")
        or item.get("raw_key"),
        "reason": reason,
    }


def summarize_execution(request: SummarizeRequest) -> ExecutionSummary:
    """The output of an execution: the groups of `summarize`, and the per-item results kept
    for the details (``p300 executions show``).

    It runs in a Lambda because Step Functions' JSONPath filters fail on LocalStack when they
    match nothing, and intrinsic functions cannot filter.
    """
    return ExecutionSummary(
        mode=request.mode, **summarize(request.results), results=request.results
    )


def run_request(
    s3, request: S3ObjectCreated | CatchUpRequest | SummarizeRequest | BackfillReportRequest
) -> Plan | ExecutionSummary | BackfillReport:
    """The plan of an execution input (see the module docstring), the execution's summary, or a
    backfill's report."""
    match request:
        case BackfillReportRequest():
            return report_backfill(s3, request)
        case SummarizeRequest():
            return summarize_execution(request)
        case CatchUpRequest():
            return plan_catch_up(s3, profiles=StudyProfiles(s3))
    return plan_from_event(request)
