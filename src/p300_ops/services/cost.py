"""`p300 cost`: measure what a run on the local cloud used, and project its AWS bill.

What is measured, and where (`measure_usage`):
- **Lambda**: every ``REPORT`` line in each function's CloudWatch Logs group
  (``/aws/lambda/<name>``): duration, init duration, configured memory, max memory used; the
  bytes logged; the function's architecture and provisioned environments from the Lambda API.
- **Step Functions**: every finished execution of the two state machines: its state
  transitions from its history (states entered plus task retries) and its duration.
- **Units**: subjects processed (the ``processed`` list of each ingest execution's output),
  trainings (succeeded train executions), predictions (invocations of the prediction function,
  which only API Gateway calls), health probes (probe invocations).
- **S3**: every S3 request LocalStack logged (``<home>/logs/localstack.log``), attributed to
  subject processing or training when it falls inside one of their executions (the rest is
  deployment and CLI reads, left out of unit costs); bytes stored, every object version.

The arithmetic is `p300_ops.services.cost_model`; the prices `p300_ops.services.cost_prices`.
"""

import json
import re
from collections import Counter
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from p300_aws.names import (
    CHECK_DRIFT_FUNCTION,
    FEATURES_BUCKET,
    HEALTH_PROBE_FUNCTION,
    INGEST_FUNCTION,
    INGEST_STATE_MACHINE,
    LANDING_BUCKET,
    MLFLOW_ARTIFACTS_BUCKET,
    MODEL_SERVING_BUCKET,
    MONITORING_BUCKET,
    PLAN_FUNCTION,
    PREDICT_FUNCTION,
    PREPROCESS_FUNCTION,
    RAW_BUCKET,
    TRAIN_FUNCTION,
    TRAIN_STATE_MACHINE,
    UPLOAD_URL_FUNCTION,
)
from p300_ops.services import cloud as cloud_service
from p300_ops.services import pipeline_executions
from p300_ops.services.cost_model import (
    MONITORING,
    PREDICTION,
    SUBJECT,
    TRAINING,
    CostReport,
    ExecutionUsage,
    FunctionUsage,
    Invocation,
    Usage,
    Workload,
    log_event_bytes,
    parse_report_line,
    project,
)
from p300_ops.services.cost_prices import PRICES_DATE, REGION

#: Which unit of work each function serves.
FUNCTION_ACTIVITIES = {
    PLAN_FUNCTION: SUBJECT,
    INGEST_FUNCTION: SUBJECT,
    PREPROCESS_FUNCTION: SUBJECT,
    CHECK_DRIFT_FUNCTION: SUBJECT,
    UPLOAD_URL_FUNCTION: SUBJECT,
    TRAIN_FUNCTION: TRAINING,
    PREDICT_FUNCTION: PREDICTION,
    HEALTH_PROBE_FUNCTION: MONITORING,
}
API_FRONTED = (PREDICT_FUNCTION, UPLOAD_URL_FUNCTION)
STATE_MACHINE_ACTIVITIES = {INGEST_STATE_MACHINE: SUBJECT, TRAIN_STATE_MACHINE: TRAINING}
DATA_BUCKETS = (
    LANDING_BUCKET,
    RAW_BUCKET,
    FEATURES_BUCKET,
    MLFLOW_ARTIFACTS_BUCKET,
    MODEL_SERVING_BUCKET,
    MONITORING_BUCKET,
)
#: A LocalStack request log line: ``2026-12-07T18:07:53.783  INFO ... : AWS s3.GetObject => 200``.
_S3_REQUEST = re.compile(r"^(\S+)\s.*\bAWS s3\.(\w+) => \d+")
#: S3's tier 1 (PUT, COPY, POST, LIST) by operation name; deletes are free, the rest tier 2.
_TIER1_PREFIXES = ("Put", "Copy", "Post", "List", "Create", "Upload", "Complete")


def cost_report(home: str | Path | None, workload: Workload) -> CostReport:
    """Measure the run of the cloud in ``home`` and project it at ``workload`` (`project`)."""
    return project(measure_usage(cloud_service.connect(home)), workload)


def report_dict(report: CostReport) -> dict:
    """``report`` as JSON-ready data, with the prices' date and region."""
    return {
        "prices": {"date": PRICES_DATE, "region": REGION},
        "unit_costs": {
            activity: {**asdict(cost), "total_usd": cost.total_usd}
            for activity, cost in report.unit_costs.items()
        },
        "per_million_predictions": {
            "rest_api_usd": report.per_million_predictions_rest,
            "http_api_usd": report.per_million_predictions_http,
        },
        "targets": report.targets,
        "workload": asdict(report.workload),
        "monthly_usd": report.monthly_usd,
        "monthly_total_usd": report.monthly_total_usd,
        "recommendations": [asdict(r) for r in report.recommendations],
        "measured": measured_dict(report.usage),
    }


def measured_dict(usage: Usage) -> dict:
    """What the run used, per function and per state machine, with each function's compute
    cost (requests + GB-s) at its own architecture."""
    machines = sorted({e.state_machine for e in usage.executions})
    return {
        "units": dict(usage.units),
        "functions": {
            f.function: {
                "activity": f.activity,
                "invocations": len(f.invocations),
                "cold_starts": sum(1 for i in f.invocations if i.init_ms),
                "gb_s": f.gb_s,
                "memory_mb": f.memory_mb,
                "max_memory_used_mb": f.max_memory_used_mb,
                "architecture": f.architecture,
                "log_bytes": f.log_bytes,
                "provisioned": f.provisioned,
                "compute_usd": f.compute_usd(),
            }
            for f in usage.functions
        },
        "state_machines": {
            name: {
                "executions": len(runs := [e for e in usage.executions if e.state_machine == name]),
                "transitions": sum(e.transitions for e in runs),
                "longest_s": max(e.duration_s for e in runs),
                "express_compatible_definition": usage.express_compatible.get(name, True),
            }
            for name in machines
        },
        "s3_requests": {a: {"tier1": t1, "tier2": t2} for a, (t1, t2) in usage.s3_requests.items()},
        "stored_bytes": usage.stored_bytes,
    }


def measure_usage(cloud: cloud_service.Cloud) -> Usage:
    """Everything the cloud's run used so far (see the module docstring)."""
    sfn = cloud.stepfunctions
    executions, windows, subjects = [], {SUBJECT: [], TRAINING: []}, 0
    express_compatible = {}
    for name, arn in pipeline_executions.deployed_state_machines(sfn).items():
        if name not in STATE_MACHINE_ACTIVITIES:
            continue
        activity = STATE_MACHINE_ACTIVITIES[name]
        definition = sfn.describe_state_machine(stateMachineArn=arn)["definition"]
        express_compatible[name] = not re.search(r"\.sync|waitForTaskToken", definition)
        for listed in _finished_executions(sfn, arn):
            described = pipeline_executions.describe(sfn, listed["executionArn"])
            events = pipeline_executions.history(sfn, listed["executionArn"])
            executions.append(_execution_usage(name, activity, described, events))
            windows[activity].append((described["startDate"], described["stopDate"]))
            if activity == SUBJECT and isinstance(described.get("output"), dict):
                subjects += len(described["output"].get("processed", []))
    functions = tuple(_function_usage(cloud, name) for name in FUNCTION_ACTIVITIES)
    invoked = {f.function: len(f.invocations) for f in functions}
    trainings = sum(1 for e in executions if e.activity == TRAINING and e.status == "SUCCEEDED")
    return Usage(
        functions=functions,
        executions=tuple(executions),
        s3_requests=s3_requests_by_activity(
            Path(cloud.state.home) / "logs" / "localstack.log", windows
        ),
        stored_bytes=sum(_bucket_bytes(cloud.s3, bucket) for bucket in DATA_BUCKETS),
        units={
            SUBJECT: subjects,
            TRAINING: trainings,
            PREDICTION: invoked[PREDICT_FUNCTION],
            MONITORING: invoked[HEALTH_PROBE_FUNCTION],
        },
        express_compatible=express_compatible,
    )


def state_transitions(events: list[dict]) -> int:
    """Transitions Step Functions Standard bills for a history: each state entered, plus each
    retry of a task (a task scheduled again within the same state)."""
    types = Counter(event["type"] for event in events)
    entered = sum(n for kind, n in types.items() if kind.endswith("StateEntered"))
    task_states = types.get("TaskStateEntered", 0)
    scheduled = types.get("TaskScheduled", 0) + types.get("LambdaFunctionScheduled", 0)
    return entered + max(0, scheduled - task_states)


def s3_requests_by_activity(
    log_path: Path, windows: dict[str, list[tuple[datetime, datetime]]]
) -> dict[str, tuple[int, int]]:
    """(tier 1, tier 2) S3 requests in LocalStack's log, by the activity whose execution
    ``windows`` (start, stop) each falls in; ``other`` outside all of them. Missing log: none."""
    counts: dict[str, list[int]] = {}
    if not log_path.is_file():
        return {}
    with log_path.open(errors="replace") as log:
        for line in log:
            match = _S3_REQUEST.match(line)
            if match is None or match[2].startswith("Delete"):
                continue
            at = datetime.fromisoformat(match[1]).replace(tzinfo=UTC)  # LocalStack logs UTC
            activity = next(
                (a for a, spans in windows.items() for start, stop in spans if start <= at <= stop),
                "other",
            )
            tier = 0 if match[2].startswith(_TIER1_PREFIXES) else 1
            counts.setdefault(activity, [0, 0])[tier] += 1
    return {activity: (tier1, tier2) for activity, (tier1, tier2) in counts.items()}


def _finished_executions(sfn, arn: str) -> list[dict]:
    pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=arn)
    return [ex for page in pages for ex in page["executions"] if ex["status"] != "RUNNING"]


def _execution_usage(
    name: str, activity: str, described: dict, events: list[dict]
) -> ExecutionUsage:
    duration = (described["stopDate"] - described["startDate"]).total_seconds()
    return ExecutionUsage(
        state_machine=name,
        activity=activity,
        status=described["status"],
        transitions=state_transitions(events),
        duration_s=duration,
    )


def function_invocations(cloud: cloud_service.Cloud, function: str) -> tuple[list[Invocation], int]:
    """Every invocation of ``function`` its CloudWatch log group has a REPORT line of, and the
    bytes of its log events (as CloudWatch Logs bills them)."""
    invocations, log_bytes = [], 0
    group = f"/aws/lambda/{function}"
    logs = cloud.client("logs")
    if logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]:
        for page in logs.get_paginator("filter_log_events").paginate(logGroupName=group):
            for event in page["events"]:
                log_bytes += log_event_bytes(event["message"])
                for line in event["message"].splitlines():
                    if (invocation := parse_report_line(line)) is not None:
                        invocations.append(invocation)
    return invocations, log_bytes


def _function_usage(cloud: cloud_service.Cloud, function: str) -> FunctionUsage:
    config = cloud.lambda_client.get_function_configuration(FunctionName=function)
    invocations, log_bytes = function_invocations(cloud, function)
    return FunctionUsage(
        function=function,
        activity=FUNCTION_ACTIVITIES[function],
        memory_mb=config["MemorySize"],
        architecture=config.get("Architectures", ["x86_64"])[0],
        invocations=tuple(invocations),
        log_bytes=log_bytes,
        provisioned=_provisioned(cloud.lambda_client, function),
        api_fronted=function in API_FRONTED,
    )


def _provisioned(lambda_client, function: str) -> int:
    configs = lambda_client.list_provisioned_concurrency_configs(FunctionName=function)
    return sum(
        c.get("RequestedProvisionedConcurrentExecutions", 0)
        for c in configs.get("ProvisionedConcurrencyConfigs", [])
    )


def _bucket_bytes(s3, bucket: str) -> int:
    pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket)
    return sum(v["Size"] for page in pages for v in page.get("Versions", []))


def workload_text(workload: Workload) -> str:
    """The stated workload in one line."""
    return (
        f"{workload.subjects_per_month:,} subjects, {workload.trainings_per_month:,} trainings, "
        f"{workload.predictions_per_month:,} predictions and {workload.probes_per_month:,} health "
        "probes a month"
    )


def dumps(report: CostReport) -> str:
    return json.dumps(report_dict(report), indent=2, sort_keys=True)
