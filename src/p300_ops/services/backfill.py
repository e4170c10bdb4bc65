"""Start a backfill: preprocess every subject of a study with ``p300-backfill``.

`start_backfill` writes the manifest (the study's raw objects in batches, each item pinned to the
study's current profile version) to ``s3://p300-backfill/<study>/<run>/manifest.json`` and starts
the execution ``<run>`` = ``backfill-<study>-<digest>``, the digest covering the manifest (keys
and ETags of the raw objects) and the tolerance. Starting the same backfill again while it runs
joins it; after it ended, or while another backfill of the study runs, it refuses.
"""

import hashlib
import json
from dataclasses import dataclass

from botocore.exceptions import ClientError

from p300_aws import keys
from p300_aws.backfill import BATCH_KEYS
from p300_aws.errors import BadKeyError
from p300_aws.names import BACKFILL_BUCKET, BACKFILL_STATE_MACHINE, RAW_BUCKET
from p300_aws.studies import StudyProfiles
from p300_ops.services.cloud import Cloud
from p300_ops.services.errors import ServiceError
from p300_ops.services.pipeline_executions import state_machine_arn

#: Subjects one child execution preprocesses, one after another (warm environments).
DEFAULT_BATCH_SIZE = 20
DEFAULT_TOLERATED_FAILURE_PERCENTAGE = 5.0
#: Child executions at once: 4 fits this 2-core machine; AWS allows a Distributed Map 10,000.
DEFAULT_MAX_CONCURRENCY = 4
MAX_CONCURRENCY_LIMIT = 10_000
#: Hex digits of the manifest digest in the execution name (names are at most 80 characters).
DIGEST_CHARS = 12
STARTED, JOINED = "started", "joined"


class BackfillRefused(ServiceError):
    """The backfill already ran with this manifest, or another one of the study is running."""


@dataclass(frozen=True)
class RawObject:
    """One raw recording of the study: its key and ETag (which bytes it holds)."""

    key: str
    etag: str


@dataclass(frozen=True)
class BackfillStart:
    execution_arn: str
    name: str
    #: `STARTED` or `JOINED` (the same backfill was already running).
    action: str
    study: str
    study_version: int
    n_items: int
    n_batches: int
    manifest_uri: str
    report_uri: str


def manifest_batches(
    objects: list[RawObject], *, study: str, study_version: int, batch_size: int
) -> list[dict]:
    """The manifest: ``objects`` as preprocess requests in batches of ``batch_size``, each
    ``{"BatchInput": {"study", "study_version"}, "Items": [...]}`` (`BATCH_KEYS`).

    Raises
    ------
    ValueError
        When ``objects`` is empty, holds a key twice or a key that is not a raw recording of
        ``study``, or ``batch_size`` < 1.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    if not objects:
        raise ValueError(f"objects must name at least one raw recording of study {study!r}")
    raw_keys = [o.key for o in objects]
    duplicates = sorted({k for k in raw_keys if raw_keys.count(k) > 1})
    if duplicates:
        raise ValueError(f"objects must name each raw key once, got twice: {duplicates}")
    for key in raw_keys:
        check_study_raw_key(key, study=study)
    items = [{"raw_key": k, "raw_version_id": None, "study_version": study_version}
             for k in sorted(raw_keys)]  # fmt: skip
    batch_input = {"study": study, "study_version": study_version}
    return [
        dict(zip(BATCH_KEYS, (batch_input, items[start : start + batch_size]), strict=True))
        for start in range(0, len(items), batch_size)
    ]


def check_study_raw_key(key: str, *, study: str) -> None:
    """`ValueError` unless ``key`` is a raw recording key (``keys.raw_key``) of ``study``."""
    try:
        ids = keys.parse_raw_key(key)
    except BadKeyError as exc:
        raise ValueError(f"raw key must be a raw recording key of study {study!r}: {exc}") from None
    if ids.study != study:
        raise ValueError(f"raw key must belong to study {study!r}, got {key!r} of {ids.study!r}")


def manifest_digest(objects: list[RawObject], *, tolerated_failure_percentage: float) -> str:
    """`DIGEST_CHARS` hex digits naming the run: the objects' keys and ETags and the tolerance."""
    content = {"objects": sorted((o.key, o.etag) for o in objects),
               "tolerated_failure_percentage": float(tolerated_failure_percentage)}  # fmt: skip
    canonical = json.dumps(content, sort_keys=True).encode()
    return hashlib.sha256(canonical).hexdigest()[:DIGEST_CHARS]


def execution_name(study: str, digest: str) -> str:
    """``backfill-<study>-<digest>``: the same manifest always gets the same execution."""
    return f"backfill-{study}-{digest}"


def check_tolerance(tolerated_failure_percentage: float) -> None:
    if not 0 <= tolerated_failure_percentage <= 100:
        raise ValueError(
            "tolerated_failure_percentage must be between 0 and 100 (%), got "
            f"{tolerated_failure_percentage!r}"
        )


def check_max_concurrency(max_concurrency: int) -> None:
    if not 1 <= max_concurrency <= MAX_CONCURRENCY_LIMIT:
        raise ValueError(
            f"max_concurrency must be between 1 and {MAX_CONCURRENCY_LIMIT:,} (child executions "
            f"at once), got {max_concurrency!r}"
        )


def study_raw_objects(s3, study: str) -> list[RawObject]:
    """Every raw recording of ``study`` (other keys under its prefix are not recordings)."""
    prefix = f"{keys.LAYOUT_PREFIX}{study}/"
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=RAW_BUCKET, Prefix=prefix):
        for entry in page.get("Contents", []):
            try:
                check_study_raw_key(entry["Key"], study=study)
            except ValueError:
                continue
            found.append(RawObject(key=entry["Key"], etag=entry["ETag"].strip('"')))
    return found


def start_backfill(
    cloud: Cloud,
    study: str,
    *,
    tolerated_failure_percentage: float = DEFAULT_TOLERATED_FAILURE_PERCENTAGE,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    objects: list[RawObject] | None = None,
) -> BackfillStart:
    """Write the manifest of ``study`` (``objects``, default every raw recording of it) and
    start its backfill, or join the same one while it runs.

    Raises
    ------
    UnknownStudyError
        When ``study`` has no profile.
    ValueError
        For a bad tolerance, batch size, concurrency or object list (`manifest_batches`), or a study
        without raw recordings.
    BackfillRefused
        When this manifest's backfill already ended, or another backfill of ``study`` runs.
    """
    check_tolerance(tolerated_failure_percentage)
    check_max_concurrency(max_concurrency)
    s3, sfn = cloud.s3, cloud.stepfunctions
    version = StudyProfiles(s3).latest_version(study)
    if objects is None:
        objects = study_raw_objects(s3, study)
    batches = manifest_batches(objects, study=study, study_version=version, batch_size=batch_size)
    name = execution_name(
        study, manifest_digest(objects, tolerated_failure_percentage=tolerated_failure_percentage)
    )
    machine = state_machine_arn(sfn, BACKFILL_STATE_MACHINE)
    folder = f"{study}/{name}/"
    start = BackfillStart(
        execution_arn=machine.replace(":stateMachine:", ":execution:") + f":{name}",
        name=name, action=STARTED, study=study, study_version=version,
        n_items=len(objects), n_batches=len(batches),
        manifest_uri=f"s3://{BACKFILL_BUCKET}/{folder}manifest.json",
        report_uri=f"s3://{BACKFILL_BUCKET}/{folder}report.json",
    )  # fmt: skip
    if (joined := _join_or_refuse(sfn, machine, start)) is not None:
        return joined
    s3.put_object(Bucket=BACKFILL_BUCKET, Key=f"{folder}manifest.json",
                  Body=json.dumps(batches).encode(), ContentType="application/json")  # fmt: skip
    execution_input = {
        "study": study,
        "manifest": {"bucket": BACKFILL_BUCKET, "key": f"{folder}manifest.json"},
        "results_prefix": f"{folder}results",
        "report_key": f"{folder}report.json",
        "tolerated_failure_percentage": float(tolerated_failure_percentage),
        "max_concurrency": max_concurrency,
    }
    try:
        sfn.start_execution(stateMachineArn=machine, name=name, input=json.dumps(execution_input))
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ExecutionAlreadyExists":
            raise
        return _join_or_refuse(sfn, machine, start) or start
    return start


def _join_or_refuse(sfn, machine: str, start: BackfillStart) -> BackfillStart | None:
    """The joined start when this backfill runs; None when it never ran and no other backfill
    of the study runs; else `BackfillRefused`."""
    try:
        status = sfn.describe_execution(executionArn=start.execution_arn)["status"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ExecutionDoesNotExist":
            raise
        status = None
    if status == "RUNNING":
        return BackfillStart(**{**start.__dict__, "action": JOINED})
    if status is not None:
        raise BackfillRefused(
            f"backfill {start.name} of study {start.study} with this manifest already ran "
            f"({status}; report {start.report_uri}); it runs again when the study's raw "
            "recordings change or with another tolerated failure percentage"
        )
    running = sfn.get_paginator("list_executions").paginate(
        stateMachineArn=machine, statusFilter="RUNNING"
    )
    prefix = execution_name(start.study, "")
    for page in running:
        for other in page["executions"]:
            if other["name"].startswith(prefix) and other["name"][len(prefix) :].isalnum():
                raise BackfillRefused(
                    f"another backfill of study {start.study} is running ({other['name']}): "
                    "wait for it (`p300 executions show NAME`) before starting one with "
                    "another manifest"
                )
    return None
