"""Decide what one execution of ``p300-ingest-and-process`` works on.

Event mode: the execution input is the raw EventBridge "Object Created" event of an upload to the
landing zone; the plan is that one object (keys arrive URL-encoded). Catch-up mode (the hourly
rule's ``{"catch_up": true}``): every object waiting in the landing zone, plus every raw object
whose features are missing or stale and that no landing object is about to replace.
"""

from collections.abc import Mapping

from p300_aws import keys
from p300_aws.errors import BadEventError, BadKeyError
from p300_aws.feature_params import features_are_current
from p300_aws.names import LANDING_BUCKET, RAW_BUCKET
from p300_aws.s3_objects import head_object, list_keys

EVENT_MODE, CATCH_UP_MODE = "event", "catch_up"
SUMMARY_GROUPS = ("processed", "skipped", "quarantined", "failed")


def plan_from_event(event: Mapping) -> dict:
    """The plan of an S3 "Object Created" EventBridge event: ``{"items": [...], "mode"}``.

    Raises
    ------
    BadEventError
        When the event is neither such an event nor a catch-up request.
    """
    detail = event.get("detail")
    if event.get("source") != "aws.s3" or not isinstance(detail, Mapping):
        raise BadEventError(
            "plan event must be an EventBridge S3 event (source 'aws.s3' with a 'detail') or "
            f"{{'catch_up': true}}; got source={event.get('source')!r}, keys {sorted(event)}"
        )
    bucket = detail.get("bucket", {}).get("name")
    key = detail.get("object", {}).get("key")
    if bucket != LANDING_BUCKET or not isinstance(key, str):
        raise BadEventError(
            f"plan event must be about an object in {LANDING_BUCKET!r}; got bucket={bucket!r}, "
            f"key={key!r}"
        )
    return {"items": [{"bucket": bucket, "key": keys.decode_event_key(key)}], "mode": EVENT_MODE}


def is_catch_up(event: Mapping) -> bool:
    return event.get("catch_up") is True


def plan_catch_up(s3, *, params_hash: str) -> dict:
    """Every landing object, then every raw object with missing or stale features.

    Raw items are ``{"raw_key", "raw_version_id", "subject", "session", "sha256",
    "needs_processing": true}`` and go straight to preprocessing.
    """
    landing_keys = [key for key in list_keys(s3, LANDING_BUCKET) if not key.endswith("/")]
    pending = {_target_raw_key(key) for key in landing_keys} - {None}
    items: list[dict] = [{"bucket": LANDING_BUCKET, "key": key} for key in landing_keys]
    for raw_key in list_keys(s3, RAW_BUCKET, prefix="subject="):
        try:
            ids = keys.parse_raw_key(raw_key)
        except BadKeyError:
            continue  # not ours (a user's stray object); ingest never writes such keys
        if raw_key in pending:
            continue  # the landing object will decide whether this subject/session needs work
        head = head_object(s3, RAW_BUCKET, raw_key)
        if head.sha256 and features_are_current(
            s3, ids, raw_sha256=head.sha256, params_hash=params_hash
        ):
            continue
        items.append(
            {"raw_key": raw_key, "raw_version_id": head.version_id, "subject": ids.subject,
             "session": ids.session, "sha256": head.sha256, "needs_processing": True}
        )  # fmt: skip
    return {"items": items, "mode": CATCH_UP_MODE}


def _target_raw_key(landing_key: str) -> str | None:
    """The raw key a landing key will be ingested to, when the key alone says so."""
    try:
        landing = keys.parse_landing_key(landing_key)
    except BadKeyError:
        return None
    if landing.subject is None or landing.session is None:
        return None
    return keys.raw_key(keys.SubjectSession(landing.subject, landing.session))


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
        ``{"processed", "skipped", "quarantined", "failed"}``, each a list of
        ``{"subject", "session", "key", "reason"}``.
    """
    groups: dict[str, list[dict]] = {name: [] for name in SUMMARY_GROUPS}
    for result in results:
        outcome = result.get("outcome")
        group = {"processed": "processed", "quarantined": "quarantined", "failed": "failed"}.get(
            outcome, "skipped"
        )
        groups[group].append(_entry(result))
    return groups


def _entry(result: Mapping) -> dict:
    item = result.get("item") or {}
    outcome = result.get("outcome")
    if outcome == "failed":
        reason = f"{result.get('error')}: {result.get('cause')}"
    elif outcome == "quarantined":
        problems = result.get("problems", [])
        reason = next((p["code"] for p in problems if p.get("severity") == "error"), "")
    else:
        reason = str(outcome)
    return {
        "subject": result.get("subject", item.get("subject")),
        "session": result.get("session", item.get("session")),
        "key": result.get("features_key")
        or result.get("landing_key")
        or item.get("key")
        or item.get("raw_key"),
        "reason": reason,
    }


def is_summary_request(event: Mapping) -> bool:
    """Whether ``event`` is the state machine's last step asking for the grouped output."""
    return event.get("summarize") is True


def summarize_execution(event: Mapping) -> dict:
    """The output of an execution from ``{"summarize": true, "mode", "results": [...]}``.

    Returns ``{"mode", "processed", "skipped", "quarantined", "failed", "results"}``: the groups
    of `summarize`, and the per-item results kept for the details (``p300 executions show``).
    It runs in a Lambda because Step Functions' JSONPath filters fail on LocalStack when they
    match nothing, and intrinsic functions cannot filter.

    Raises
    ------
    BadEventError
        When ``results`` is not a list of objects.
    """
    results = event.get("results")
    if not isinstance(results, list) or not all(isinstance(r, Mapping) for r in results):
        raise BadEventError(
            f"summarize event 'results' must be a list of objects, got {type(results).__name__}"
        )
    return {"mode": event.get("mode"), **summarize(results), "results": results}


def plan(s3, event: Mapping, *, params_hash: str) -> dict:
    """The plan of an execution input: catch-up request or S3 event (see the module docstring)."""
    if is_catch_up(event):
        return plan_catch_up(s3, params_hash=params_hash)
    return plan_from_event(event)
