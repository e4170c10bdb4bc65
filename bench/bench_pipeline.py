"""Benchmark: the deployed pipeline on 10 System A-sized subjects, then training on them.

Builds the layers, starts its own local cloud (`lifecycle.up` in a temporary home, free ports),
uploads 10 synthetic sessions (16 channels, 512 Hz, 10 minutes each) to the landing zone at once,
waits until every subject's features are written, then runs the train state machine. Reports the
upload-to-features wall time, how soon an item that fails reaches Catch, the preprocess
Lambda's cold durations (the 10 uploads) and warm ones
(3 direct invocations after training), its peak memory (from the REPORT lines in CloudWatch Logs)
and the training time: through the train state machine (its alias keeps a provisioned
environment), once more, and invoked on demand on ``$LATEST`` (a cold start); stops the cloud.

    .venv/bin/python bench/bench_pipeline.py [--subjects 10] [--minutes 10] [--no-training]

The pipeline's figures are printed as soon as the executions finish (with the load average:
on a shared machine, compare runs taken under similar load); a failed training is reported, not
raised.

Targets (2-core machine): all features ≤ 60 s after the uploads; a failing item caught ≤ 30 s;
training on 10 subjects ≤ 10 s.
"""

import argparse
import json
import os
import re
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from private_cloud import private_cloud

from p300 import raw_io, synthetic
from p300_aws.names import (
    FEATURES_BUCKET,
    INGEST_FUNCTION,
    INGEST_STATE_MACHINE,
    LANDING_BUCKET,
    PLAN_FUNCTION,
    PREPROCESS_FUNCTION,
    RAW_BUCKET,
    TRAIN_FUNCTION,
    TRAIN_STATE_MACHINE,
)
from p300_ops.localcloud import localstack
from p300_ops.services import layer_builds

FEATURES_TARGET_S = 60.0
FAILING_ITEM_TARGET_S = 30.0
TRAINING_TARGET_S = 10.0
TRAINING_REQUEST = {
    "training_subjects_percentage": 50,
    "auto_set_challenger_alias": True,
    "seed": 42,
}
_REPORT_FIELDS = {
    "init_ms": r"Init Duration: ([\d.]+) ms",
    "duration_ms": r"\tDuration: ([\d.]+) ms",
    "max_memory_mb": r"Max Memory Used: (\d+) MB",
}


@dataclass(frozen=True)
class Report:
    """One REPORT line of a Lambda invocation; ``init_ms`` is None for a warm invocation."""

    duration_ms: float
    max_memory_mb: float
    init_ms: float | None


def parse_report(line: str) -> Report:
    values = {}
    for name, pattern in _REPORT_FIELDS.items():
        found = re.search(pattern, line)
        values[name] = float(found.group(1)) if found else None
    return Report(**values)


def lambda_reports(logs, function_name: str) -> list[Report]:
    """Every REPORT line CloudWatch Logs holds for ``function_name``."""
    group = f"/aws/lambda/{function_name}"
    messages, token = [], None
    while True:
        page = logs.filter_log_events(logGroupName=group, **({"nextToken": token} if token else {}))
        messages += [event["message"] for event in page["events"]]
        token = page.get("nextToken")
        if not token:
            break
    return [parse_report(m) for m in messages if m.startswith("REPORT")]


def recordings(n_subjects: int, minutes: float) -> dict[str, bytes]:
    """Landing key → Parquet bytes of each synthetic subject (16 channels, 512 Hz)."""

    def one(number: int) -> tuple[str, bytes]:
        recording = synthetic.subject_session(
            seed=2026, subject_number=number, duration_s=60.0 * minutes
        )
        key = f"subject_{number:02d}/subject_{number:02d}_eeg_stim.parquet"
        return key, raw_io.recording_to_parquet_bytes(recording)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(one, range(1, n_subjects + 1)))


def wait_for_pipeline(s3, sfn, n_subjects: int, *, timeout_s: float) -> tuple[float, int]:
    """Seconds until every upload's execution finished, and how many subjects have features."""
    machines = sfn.list_state_machines()["stateMachines"]
    (arn,) = [m["stateMachineArn"] for m in machines if m["name"] == INGEST_STATE_MACHINE]
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        executions = sfn.list_executions(stateMachineArn=arn)["executions"]
        finished = [e for e in executions if e["status"] != "RUNNING"]
        if len(finished) >= n_subjects:
            elapsed = time.monotonic() - started
            listed = s3.list_objects_v2(Bucket=FEATURES_BUCKET).get("Contents", [])
            return elapsed, sum(obj["Key"].endswith("features.parquet") for obj in listed)
        time.sleep(0.25)
    raise TimeoutError(f"{n_subjects} executions not finished after {timeout_s} s")


def execution_s(sfn, state_machine: str, request: dict, *, timeout_s: float = 900) -> tuple:
    """Wall time (s) of one execution of ``state_machine`` on ``request``, and its description."""
    machines = sfn.list_state_machines()["stateMachines"]
    (arn,) = [m["stateMachineArn"] for m in machines if m["name"] == state_machine]
    started = time.monotonic()
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps(request))
    while (described := sfn.describe_execution(executionArn=execution["executionArn"]))[
        "status"
    ] == "RUNNING":
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"{state_machine} still RUNNING after {timeout_s} s")
        time.sleep(0.25)
    return time.monotonic() - started, described


def failing_item_s(sfn) -> float:
    """Wall time (s) of an ingest execution whose only item fails (an event the ingest Lambda
    rejects): how soon a handler's error reaches Catch (no retry back-off in between)."""
    bad_event = {"source": "aws.s3", "detail-type": "Object Created",
                 "detail": {"bucket": {"name": LANDING_BUCKET}, "object": {"key": ""}}}  # fmt: skip
    elapsed, described = execution_s(sfn, INGEST_STATE_MACHINE, bad_event)
    if described["status"] != "SUCCEEDED" or '"failed"' not in described["output"]:
        raise RuntimeError(f"the failing item was not caught: {described}")
    return elapsed


def run_training(sfn) -> tuple[float, dict]:
    """Wall time (s) and output of the train state machine on 50 % of the subjects."""
    elapsed, described = execution_s(sfn, TRAIN_STATE_MACHINE, TRAINING_REQUEST)
    if described["status"] != "SUCCEEDED":
        raise RuntimeError(f"training failed: {described.get('error')}: {described.get('cause')}")
    return elapsed, json.loads(described["output"])


def run_training_on_demand(lambda_client) -> float:
    """Wall time (s) of the same training invoked on ``$LATEST``: no provisioned environment
    serves it, so it starts cold as an on-demand function would (``trainWarmEnvironments=0``)."""
    started = time.monotonic()
    answer = lambda_client.invoke(FunctionName=TRAIN_FUNCTION, Payload=json.dumps(TRAINING_REQUEST))
    elapsed = time.monotonic() - started
    if "FunctionError" in answer:
        raise RuntimeError(f"training failed: {answer['Payload'].read()[:500]!r}")
    return elapsed


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def warm_preprocess(lambda_client, s3, *, n_invocations: int) -> None:
    """Invoke the (now warm) preprocess Lambda on stored raw objects whose features were
    deleted first, so it does the work again instead of skipping (after training: the features
    it writes are the same as before)."""
    listed = s3.list_objects_v2(Bucket=RAW_BUCKET, Prefix="study=").get("Contents", [])
    for obj in listed[:n_invocations]:
        version = s3.head_object(Bucket=RAW_BUCKET, Key=obj["Key"])["VersionId"]
        features = obj["Key"].replace("/eeg.parquet", "/features.parquet")
        s3.delete_object(Bucket=FEATURES_BUCKET, Key=features)
        event = {"raw_key": obj["Key"], "raw_version_id": version}
        answer = lambda_client.invoke(FunctionName=PREPROCESS_FUNCTION, Payload=json.dumps(event))
        if "FunctionError" in answer:
            raise RuntimeError(f"warm preprocess failed: {answer['Payload'].read()[:500]!r}")


def print_table(rows: list[tuple[str, str, str]]) -> None:
    width = max(len(name) for name, _, _ in rows)
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>14}  {target}")
    print(flush=True)


def cold_rows(logs, function_name: str) -> list[tuple[str, str, str]]:
    """Median cold init and duration of ``function_name``'s invocations so far."""
    cold = [r for r in lambda_reports(logs, function_name) if r.init_ms is not None]
    if not cold:
        return [(f"{function_name} cold", "none", "")]
    return [
        (
            f"{function_name} cold init / run",
            f"{statistics.median(r.init_ms for r in cold) / 1000:.1f} / "
            f"{statistics.median(r.duration_ms for r in cold) / 1000:.1f} s",
            f"median of {len(cold)}",
        ),
        (f"{function_name} peak memory", f"{max(r.max_memory_mb for r in cold):.0f} MB", "max"),
    ]


def upload_all(s3, bodies: dict[str, bytes]) -> float:
    """Upload every body to the landing zone, 4 at a time; returns the seconds it took."""
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(
            pool.map(
                lambda item: s3.put_object(Bucket=LANDING_BUCKET, Key=item[0], Body=item[1]),
                bodies.items(),
            )
        )
    return time.monotonic() - started


def bench_pipeline(port: int, bodies: dict[str, bytes]) -> None:
    """Upload, wait for every execution, print the pipeline's figures at once."""
    s3, sfn, logs = (localstack.aws_client(n, port) for n in ("s3", "stepfunctions", "logs"))
    load_before = os.getloadavg()[0]
    upload_s = upload_all(s3, bodies)
    pipeline_s, n_processed = wait_for_pipeline(s3, sfn, len(bodies), timeout_s=600)
    time.sleep(1)  # the last REPORT lines reach CloudWatch Logs just after the answers
    rows = [
        ("1-min load average before / after", f"{load_before:.1f} / {os.getloadavg()[0]:.1f}", ""),
        ("uploads (4 at a time)", f"{upload_s:.1f} s", ""),
        (
            "upload → executions done",
            f"{upload_s + pipeline_s:.1f} s",
            f"≤ {FEATURES_TARGET_S:.0f} s",
        ),
        ("subjects with features", f"{n_processed} of {len(bodies)}", ""),
        ("a failing item → Catch (execution)", f"{failing_item_s(sfn):.1f} s",
         f"≤ {FAILING_ITEM_TARGET_S:.0f} s"),
    ]  # fmt: skip
    for function_name in (PLAN_FUNCTION, INGEST_FUNCTION, PREPROCESS_FUNCTION):
        rows += cold_rows(logs, function_name)
    print_table(rows)


def bench_training(port: int) -> None:
    """Train through the state machine (twice), on demand, then 3 warm preprocess invocations;
    print their figures."""
    sfn, logs, lambda_client = (
        localstack.aws_client(n, port) for n in ("stepfunctions", "logs", "lambda")
    )
    try:
        training_s, output = run_training(sfn)
        time.sleep(1)
        first = lambda_reports(logs, TRAIN_FUNCTION)[-1]
        again_s, _ = run_training(sfn)
        time.sleep(1)
        again = lambda_reports(logs, TRAIN_FUNCTION)[-1]
        on_demand_s = run_training_on_demand(lambda_client)
    except RuntimeError as exc:
        print(f"training: {exc}", flush=True)
        return
    warm_preprocess(lambda_client, localstack.aws_client("s3", port), n_invocations=3)
    time.sleep(1)
    warm = [r for r in lambda_reports(logs, PREPROCESS_FUNCTION) if r.init_ms is None]
    on_demand = [r for r in lambda_reports(logs, TRAIN_FUNCTION) if r.init_ms is not None][-1]
    rows = [
        ("training (state machine)", f"{training_s:.1f} s", f"≤ {TRAINING_TARGET_S:.0f} s"),
        ("train Lambda run", f"{first.duration_ms / 1000:.1f} s", _started(first)),
        ("training again (state machine)", f"{again_s:.1f} s", ""),
        ("train Lambda run", f"{again.duration_ms / 1000:.1f} s", _started(again)),
        ("training on demand (Invoke $LATEST)", f"{on_demand_s:.1f} s", "cold start"),
        (
            "train Lambda init / run",
            f"{on_demand.init_ms / 1000:.1f} / {on_demand.duration_ms / 1000:.1f} s",
            "",
        ),
        (
            "train peak memory",
            f"{max(r.max_memory_mb for r in (first, again, on_demand)):.0f} MB",
            "",
        ),
        ("held-out ROC-AUC", _number(output["metrics"].get("roc_auc")), ""),
    ]
    if warm:
        rows.append(
            (
                "preprocess warm run",
                f"{statistics.median(r.duration_ms for r in warm):.0f} ms",
                "median",
            )
        )
    print_table(rows)


def _started(report: Report) -> str:
    """Whether ``report`` was its environment's first request (a provisioned environment's
    init ran at deploy, not in the request's path: compare the state machine's wall time)."""
    if report.init_ms is None:
        return "environment reused"
    return f"its environment's first request (init {report.init_ms / 1000:.1f} s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=10)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--no-training", action="store_true", help="stop after the pipeline")
    args = parser.parse_args()

    print("building layers ...", flush=True)
    layer_builds.build_all(progress=print)
    bodies = recordings(args.subjects, args.minutes)
    size_mb = sum(len(b) for b in bodies.values()) / 1e6
    print("starting the local cloud (deploys the stack) ...", flush=True)
    with private_cloud("bench-pipeline-") as state:
        print(
            f"\n{args.subjects} subjects × {args.minutes:g} min (16 ch, 512 Hz), {size_mb:.0f} MB "
            f"of Parquet; deploy took {state.timings_s.get('deploy', 0):.0f} s\n",
            flush=True,
        )
        bench_pipeline(state.localstack_port, bodies)
        if not args.no_training:
            bench_training(state.localstack_port)


if __name__ == "__main__":
    main()
