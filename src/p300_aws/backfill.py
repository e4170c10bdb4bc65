"""The report of one ``p300-backfill`` execution, read from its Distributed Map's result files.

A backfill preprocesses every subject of a study from a manifest of batches (`BATCH_KEYS`): each
child execution of the Distributed Map preprocesses the items of one batch, catching each item's
failure (``{"outcome": "failed", "error", "cause", "item"}``, as `p300-ingest-and-process`
does). The map's ResultWriter writes the children's outputs to S3 (``manifest.json`` naming
``SUCCEEDED_<n>.json`` and ``FAILED_<n>.json`` files); the last state, run by
``p300-plan-ingest``, flattens them into per-item outcomes, writes ``report.json`` and fails the
execution (`FailureRateExceededError`) when more items failed than the input tolerates.
"""

import json
from collections import Counter
from typing import Annotated, Any, Literal

from pydantic import Field

from p300_aws.events import Event, Number, Result
from p300_aws.s3_objects import put_verified, read_object

#: The keys of one manifest batch: what an ASL ItemBatcher would give each child execution.
BATCH_KEYS = ("BatchInput", "Items")
#: Failures quoted in the error of a failed backfill.
FIRST_REASONS = 3


class FailureRateExceededError(RuntimeError):
    """More items of a backfill failed than its ``tolerated_failure_percentage``."""


class ResultWriterDetails(Event):
    """Where the Distributed Map's ResultWriter wrote its ``manifest.json``."""

    Bucket: Annotated[str, Field(min_length=1)]
    Key: Annotated[str, Field(min_length=1)]


class BackfillReportRequest(Event):
    """The backfill's last step: report the map's results (see `report_backfill`)."""

    backfill_report: Literal[True]
    study: str
    tolerated_failure_percentage: Annotated[Number, Field(ge=0, le=100)]
    result_writer: ResultWriterDetails
    report_key: Annotated[str, Field(min_length=1)]


class FailedItem(Result):
    raw_key: str | None
    reason: str


class BackfillReport(Result):
    """The output of a backfill (also written to ``report_key``)."""

    study: str
    n_items: int
    #: Items by outcome (``processed``, ``skipped``, ``rejected``, ``failed``).
    outcomes: dict[str, int]
    failed_percentage: float
    tolerated_failure_percentage: float
    failed: list[FailedItem]
    report_bucket: str
    report_key: str


def item_results(manifest: dict, read_json) -> list[dict[str, Any]]:
    """Every item's result from a ResultWriter ``manifest`` (``read_json(key)`` reads a file of
    its bucket): each child's output list, and each item of a failed child as failed."""
    results: list[dict[str, Any]] = []
    for status in ("SUCCEEDED", "FAILED", "PENDING"):
        for result_file in manifest.get("ResultFiles", {}).get(status, []):
            for child in read_json(result_file["Key"]):
                results += _child_results(child)
    return results


def _child_results(child: dict) -> list[dict[str, Any]]:
    if child.get("Status") == "SUCCEEDED":
        return list(json.loads(child["Output"]))
    batch = json.loads(child.get("Input") or "{}")
    reason = {"error": child.get("Error", child.get("Status")), "cause": child.get("Cause", "")}
    return [{"outcome": "failed", **reason, "item": item} for item in batch.get("Items", [])]


def build_report(request: BackfillReportRequest, results: list[dict[str, Any]]) -> BackfillReport:
    """Count the outcomes of ``results`` and list the failed items with their reasons."""
    outcomes = Counter(str(result.get("outcome", "failed")) for result in results)
    failed = [
        FailedItem(
            raw_key=(result.get("item") or {}).get("raw_key"),
            reason=f"{result.get('error')}: {result.get('cause')}",
        )
        for result in results
        if result.get("outcome", "failed") == "failed"
    ]
    return BackfillReport(
        study=request.study,
        n_items=len(results),
        outcomes=dict(sorted(outcomes.items())),
        failed_percentage=100 * len(failed) / len(results) if results else 0.0,
        tolerated_failure_percentage=request.tolerated_failure_percentage,
        failed=failed,
        report_bucket=request.result_writer.Bucket,
        report_key=request.report_key,
    )


def check_tolerance(report: BackfillReport) -> None:
    """Raise `FailureRateExceededError` with the count and the first reasons when the failed
    share exceeds the tolerated one."""
    if report.failed_percentage <= report.tolerated_failure_percentage:
        return
    reasons = "; ".join(f"{f.raw_key}: {f.reason}" for f in report.failed[:FIRST_REASONS])
    raise FailureRateExceededError(
        f"{len(report.failed)} of {report.n_items} items of study {report.study} failed "
        f"({report.failed_percentage:.1f} % > tolerated_failure_percentage "
        f"{report.tolerated_failure_percentage:g} %); report s3://{report.report_bucket}/"
        f"{report.report_key}; first reasons: {reasons}"
    )


def report_backfill(s3, request: BackfillReportRequest) -> BackfillReport:
    """Read the map's results, write ``report.json`` to ``report_key`` (the results' bucket),
    then check the tolerance.

    Raises
    ------
    FailureRateExceededError
        When more items failed than ``tolerated_failure_percentage`` (the report is written).
    """
    bucket = request.result_writer.Bucket

    def read_json(key: str) -> Any:
        return json.loads(read_object(s3, bucket, key).body)

    report = build_report(request, item_results(read_json(request.result_writer.Key), read_json))
    body = json.dumps(report.model_dump(mode="json"), indent=1).encode()
    put_verified(s3, bucket, request.report_key, body, content_type="application/json")
    check_tolerance(report)
    return report
