"""The report of one ``p300-backfill`` execution, read from its Distributed Map's result files.

A backfill preprocesses every subject of a study from a manifest of batches (`BATCH_KEYS`): each
child execution of the Distributed Map preprocesses the items of one batch, catching each item's
failure (``{"outcome": "failed", "error", "cause", "item"}``, as `p300-ingest-and-process`
does). The map's ResultWriter writes the children's outputs to S3 (``manifest.json`` naming
``SUCCEEDED_<n>.json`` and ``FAILED_<n>.json`` files); ``p300-plan-ingest`` flattens them into
per-item outcomes (`report_backfill`), and the state machine writes that report to S3, then fails
with its ``failure_message`` when more items failed than the input tolerates.
"""

import json
from collections import Counter
from typing import Annotated, Any, Literal

from pydantic import Field

from p300_aws.events import Event, Number, Result
from p300_aws.s3_objects import read_object

#: The keys of one manifest batch: what an ASL ItemBatcher would give each child execution.
BATCH_KEYS = ("BatchInput", "Items")
#: Failures quoted in the error of a failed backfill.
FIRST_REASONS = 3


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
    #: Why the backfill fails (the count and the first reasons); null within the tolerance.
    failure_message: str | None


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
    # A child whose input is not in the file (LocalStack keeps none) counts as one failed item.
    batch = json.loads(child.get("Input") or "{}")
    items = batch.get("Items") or [{"child": child.get("Name")}]
    reason = {"error": child.get("Error", child.get("Status")), "cause": child.get("Cause", "")}
    return [{"outcome": "failed", **reason, "item": item} for item in items]


def build_report(request: BackfillReportRequest, results: list[dict[str, Any]]) -> BackfillReport:
    """Count the outcomes of ``results``, list the failed items with their reasons, and say why
    the backfill fails when the failed share exceeds the tolerated one."""
    outcomes = Counter(str(result.get("outcome", "failed")) for result in results)
    failed = [
        FailedItem(
            raw_key=(result.get("item") or {}).get("raw_key"),
            reason=f"{result.get('error')}: {result.get('cause')}",
        )
        for result in results
        if result.get("outcome", "failed") == "failed"
    ]
    failed_percentage = 100 * len(failed) / len(results) if results else 0.0
    tolerated = request.tolerated_failure_percentage
    return BackfillReport(
        study=request.study,
        n_items=len(results),
        outcomes=dict(sorted(outcomes.items())),
        failed_percentage=failed_percentage,
        tolerated_failure_percentage=tolerated,
        failed=failed,
        report_bucket=request.result_writer.Bucket,
        report_key=request.report_key,
        failure_message=None
        if failed_percentage <= tolerated
        else failure_message(request, failed, n_items=len(results)),
    )


def failure_message(
    request: BackfillReportRequest, failed: list[FailedItem], *, n_items: int
) -> str:
    """The count of failed items against the tolerance, where the report is, the first reasons."""
    reasons = "; ".join(f"{f.raw_key}: {f.reason}" for f in failed[:FIRST_REASONS])
    return (
        f"{len(failed)} of {n_items} items of study {request.study} failed "
        f"({100 * len(failed) / n_items:.1f} % > tolerated_failure_percentage "
        f"{request.tolerated_failure_percentage:g} %); report "
        f"s3://{request.result_writer.Bucket}/{request.report_key}; first reasons: {reasons}"
    )


def report_backfill(s3, request: BackfillReportRequest) -> BackfillReport:
    """The report of the map's results (`build_report`), read from its ResultWriter's files."""
    bucket = request.result_writer.Bucket

    def read_json(key: str) -> Any:
        return json.loads(read_object(s3, bucket, key).body)

    return build_report(request, item_results(read_json(request.result_writer.Key), read_json))
