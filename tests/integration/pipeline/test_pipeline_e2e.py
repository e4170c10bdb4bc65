"""The deployed pipeline end to end: uploads → ingest/quarantine → features; catch-up; training.

The tests of this module share one local cloud and run in order: later tests build on the
subjects processed by earlier ones.
"""

import io
import json
import time
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from mlflow.tracking import MlflowClient

from p300 import raw_io, synthetic
from p300.contract import ProblemCode
from p300_aws.names import (
    CHALLENGER_ALIAS,
    FEATURES_BUCKET,
    INGEST_FUNCTION,
    INGEST_STATE_MACHINE,
    LANDING_BUCKET,
    MLFLOW_ARTIFACTS_BUCKET,
    QUARANTINE_PREFIX,
    RAW_BUCKET,
    REGISTERED_MODEL,
    TRAIN_STATE_MACHINE,
)
from p300_aws.planning import SUMMARY_GROUPS
from p300_ops.localcloud import localstack
from tests.integration.cloud_helpers import event_sentinel, landing_rule_disabled

pytestmark = [pytest.mark.cloud, pytest.mark.timeout(900)]

#: Subjects of this module: unique per run, so a shared cloud's earlier data cannot interfere.
RUN = uuid.uuid4().hex[:6].upper()
SUBJECTS = [f"E{RUN}{n}" for n in range(1, 5)]  # the 4th is the one whose event is missed
DURATION_S = 90.0


def recording_bytes(number: int) -> bytes:
    """A short synthetic session (16 channels, 512 Hz) of ``SUBJECTS[number - 1]``."""
    recording = synthetic.subject_session(
        seed=11, subject_number=number, duration_s=DURATION_S, bad_channel_prob=0.0
    )
    return raw_io.recording_to_parquet_bytes(recording)


def missing_stim_bytes() -> bytes:
    table = pa.table({f"eeg_ch{i}": [0.5, 1.0, 1.5] for i in range(1, 17)})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


BROKEN = {
    "not_parquet": (b"this is not a parquet file", ProblemCode.NOT_PARQUET),
    "missing_stim": (missing_stim_bytes(), ProblemCode.MISSING_STIM),
}


def landing_key(subject: str) -> str:
    return f"subject_{subject}/subject_{subject}_eeg_stim.parquet"


def features_key(subject: str) -> str:
    return f"study=system-a/subject={subject}/session=01/features.parquet"


@pytest.fixture(scope="module")
def aws(cloud):
    port = cloud.localstack_port
    names = ("s3", "stepfunctions", "events", "sqs")
    return {name: localstack.aws_client(name, port) for name in names}


@pytest.fixture(scope="module")
def state_machines(aws) -> dict[str, str]:
    machines = aws["stepfunctions"].list_state_machines()["stateMachines"]
    return {m["name"]: m["stateMachineArn"] for m in machines}


def execution_arns(aws, arn: str) -> set[str]:
    found = aws["stepfunctions"].list_executions(stateMachineArn=arn)["executions"]
    return {e["executionArn"] for e in found}


def wait_for_new_executions(aws, arn: str, *, known: set[str], count: int, timeout_s: float):
    """The ``count`` executions not in ``known``, described once all have finished."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        described = [
            aws["stepfunctions"].describe_execution(executionArn=new)
            for new in execution_arns(aws, arn) - known
        ]
        if len(described) >= count and all(e["status"] != "RUNNING" for e in described):
            return sorted(described, key=lambda e: e["startDate"])
        time.sleep(0.5)
    raise AssertionError(f"{count} new executions did not finish in {timeout_s} s")


def results_of(executions: list[dict]) -> list[dict]:
    return [r for e in executions for r in json.loads(e["output"])["results"]]


def groups_of(executions: list[dict]) -> dict[str, list[dict]]:
    """The executions' grouped outputs merged: processed, skipped, quarantined, failed."""
    outputs = [json.loads(e["output"]) for e in executions]
    return {group: [entry for o in outputs for entry in o[group]] for group in SUMMARY_GROUPS}


def head(aws, bucket: str, key: str) -> dict | None:
    try:
        return aws["s3"].head_object(Bucket=bucket, Key=key)
    except aws["s3"].exceptions.ClientError:
        return None


@pytest.fixture(scope="module")
def first_run(aws, state_machines):
    """3 valid subjects and 2 broken files uploaded; their 5 finished executions."""
    known = execution_arns(aws, state_machines[INGEST_STATE_MACHINE])
    for number, subject in enumerate(SUBJECTS[:3], start=1):
        aws["s3"].put_object(
            Bucket=LANDING_BUCKET, Key=landing_key(subject), Body=recording_bytes(number)
        )
    for name, (body, _) in BROKEN.items():
        aws["s3"].put_object(Bucket=LANDING_BUCKET, Key=f"subject_B{RUN}/{name}.parquet", Body=body)
    return wait_for_new_executions(
        aws, state_machines[INGEST_STATE_MACHINE], known=known, count=5, timeout_s=180
    )


def test_valid_uploads_become_features_and_leave_the_landing_zone(aws, first_run):
    assert [e["status"] for e in first_run] == ["SUCCEEDED"] * 5
    processed = [r for r in results_of(first_run) if r["outcome"] == "processed"]
    assert sorted(r["subject"] for r in processed) == SUBJECTS[:3]
    for subject in SUBJECTS[:3]:
        features = head(aws, FEATURES_BUCKET, features_key(subject))
        assert features is not None, f"no features for {subject}"
        assert features["Metadata"]["raw-sha256"]
        assert (
            head(aws, RAW_BUCKET, f"study=system-a/subject={subject}/session=01/eeg.parquet")
            is not None
        )
        assert head(aws, LANDING_BUCKET, landing_key(subject)) is None


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_uploads_are_quarantined_with_their_code(aws, first_run, name):
    body, code = BROKEN[name]
    key = f"{QUARANTINE_PREFIX}subject_B{RUN}/{name}.parquet"
    kept = aws["s3"].get_object(Bucket=RAW_BUCKET, Key=key)["Body"].read()
    reason = json.loads(
        aws["s3"].get_object(Bucket=RAW_BUCKET, Key=f"{key}.reason.json")["Body"].read()
    )
    assert kept == body
    assert reason["code"] == code
    assert reason["landing_key"] == f"subject_B{RUN}/{name}.parquet"
    assert head(aws, LANDING_BUCKET, reason["landing_key"]) is None
    outcomes = {r.get("landing_key"): r["outcome"] for r in results_of(first_run)}
    assert outcomes[reason["landing_key"]] == "quarantined"


def test_the_output_lists_processed_skipped_quarantined_and_failed_subjects(first_run):
    groups = groups_of(first_run)
    assert sorted(e["subject"] for e in groups["processed"]) == SUBJECTS[:3]
    assert all(e["key"] == features_key(e["subject"]) for e in groups["processed"])
    assert sorted(e["key"] for e in groups["quarantined"]) == sorted(
        f"subject_B{RUN}/{name}.parquet" for name in BROKEN
    )
    assert sorted(e["reason"] for e in groups["quarantined"]) == sorted(
        str(code) for _, code in BROKEN.values()
    )
    assert groups["skipped"] == groups["failed"] == []


def test_executions_show_each_state(aws, first_run):
    processed = next(e for e in first_run if "processed" in e["output"])
    events = aws["stepfunctions"].get_execution_history(executionArn=processed["executionArn"])
    entered = [
        e["stateEnteredEventDetails"]["name"]
        for e in events["events"]
        if e["type"].endswith("StateEntered")
    ]
    assert {"Plan", "ForEachObject", "Ingest", "NeedsProcessing", "Preprocess"} <= set(entered)
    assert entered[-1] == "Summarize"


def test_the_same_upload_again_is_not_processed_again(aws, state_machines, first_run):
    before = head(aws, FEATURES_BUCKET, features_key(SUBJECTS[0]))["VersionId"]
    known = execution_arns(aws, state_machines[INGEST_STATE_MACHINE])
    aws["s3"].put_object(
        Bucket=LANDING_BUCKET, Key=landing_key(SUBJECTS[0]), Body=recording_bytes(1)
    )
    (execution,) = wait_for_new_executions(
        aws, state_machines[INGEST_STATE_MACHINE], known=known, count=1, timeout_s=60
    )
    (result,) = results_of([execution])
    assert result["outcome"] in ("duplicate", "skipped")
    assert [e["subject"] for e in groups_of([execution])["skipped"]] == [SUBJECTS[0]]
    assert head(aws, FEATURES_BUCKET, features_key(SUBJECTS[0]))["VersionId"] == before
    assert head(aws, LANDING_BUCKET, landing_key(SUBJECTS[0])) is None


def test_the_hourly_rule_starts_a_catch_up_run(aws, state_machines):
    rules = aws["events"].list_rules()["Rules"]
    (hourly,) = [r for r in rules if r.get("ScheduleExpression") == "rate(1 hour)"]
    (target,) = aws["events"].list_targets_by_rule(Rule=hourly["Name"])["Targets"]
    assert target["Arn"] == state_machines[INGEST_STATE_MACHINE]
    assert json.loads(target["Input"]) == {"catch_up": True}


@pytest.fixture(scope="module")
def caught_up(aws, state_machines, first_run) -> dict:
    """The 4th subject uploaded while the landing rule is disabled (its event missed), then a
    catch-up run; that run's execution. Training holds the subject out, so it needs this too."""
    arn = state_machines[INGEST_STATE_MACHINE]
    key, prefix = landing_key(SUBJECTS[3]), f"subject_{SUBJECTS[3]}"
    pattern = {
        "source": ["aws.s3"],
        "detail": {"bucket": {"name": [LANDING_BUCKET]}, "object": {"key": [{"prefix": prefix}]}},
    }
    with (
        landing_rule_disabled(aws["events"]),
        event_sentinel(aws["events"], aws["sqs"], name=f"sentinel-{RUN}", pattern=pattern) as seen,
    ):
        known = execution_arns(aws, arn)
        aws["s3"].put_object(Bucket=LANDING_BUCKET, Key=key, Body=recording_bytes(4))
        assert seen()["detail"]["object"]["key"].startswith(prefix)  # EventBridge matched it
        assert execution_arns(aws, arn) == known, "the disabled rule still started an execution"
    aws["stepfunctions"].start_execution(stateMachineArn=arn, input=json.dumps({"catch_up": True}))
    (execution,) = wait_for_new_executions(aws, arn, known=known, count=1, timeout_s=120)
    return execution


def test_catch_up_processes_an_upload_whose_event_was_missed(aws, caught_up):
    outcomes = {r.get("subject"): r["outcome"] for r in results_of([caught_up])}
    assert outcomes[SUBJECTS[3]] == "processed"
    assert not set(SUBJECTS[:3]) & set(outcomes), "catch-up redid already processed subjects"
    assert head(aws, FEATURES_BUCKET, features_key(SUBJECTS[3])) is not None


def test_a_failing_item_goes_to_catch_without_retries(aws, state_machines):
    """An event the ingest Lambda rejects (empty key): the item fails at once (its error is
    not retried: bench/bench_pipeline.py measures how soon), the execution succeeds."""
    arn = state_machines[INGEST_STATE_MACHINE]
    event = {
        "id": str(uuid.uuid4()),
        "source": "aws.s3",
        "detail-type": "Object Created",
        "detail": {
            "bucket": {"name": LANDING_BUCKET},
            "object": {"key": ""},
        },
    }
    known = execution_arns(aws, arn)
    aws["stepfunctions"].start_execution(stateMachineArn=arn, input=json.dumps(event))
    (described,) = wait_for_new_executions(aws, arn, known=known, count=1, timeout_s=120)
    (result,) = results_of([described])
    assert described["status"] == "SUCCEEDED"
    assert result["outcome"] == "failed"
    assert result["error"] == "BadEventError"
    assert "IngestEvent: key: String should have at least 1 character" in result["cause"]
    (failed,) = groups_of([described])["failed"]
    assert failed["reason"].startswith("BadEventError: ")
    history = aws["stepfunctions"].get_execution_history(
        executionArn=described["executionArn"], maxResults=1000
    )["events"]
    ingest_attempts = [
        e for e in history
        if e["type"] == "TaskScheduled"
        and json.loads(e["taskScheduledEventDetails"]["parameters"])["FunctionName"].split(":")[6]
        == INGEST_FUNCTION
    ]  # fmt: skip
    assert len(ingest_attempts) == 1, "the bad event was retried before Catch"


@pytest.fixture(scope="module")
def training(aws, state_machines, first_run, caught_up):
    """The train state machine run on this module's 4 subjects (2 train, 2 held out)."""
    request = {
        "subjects": SUBJECTS[:2],
        "auto_set_challenger_alias": True,
        "model_name": "lda",
        "seed": 42,
    }
    arn = state_machines[TRAIN_STATE_MACHINE]
    execution_arn = aws["stepfunctions"].start_execution(
        stateMachineArn=arn, input=json.dumps(request)
    )["executionArn"]
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        described = aws["stepfunctions"].describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described
        time.sleep(1)
    raise AssertionError("training did not finish in 180 s")


def test_training_registers_a_challenger_with_metrics_plots_and_manifest(cloud, aws, training):
    assert training["status"] == "SUCCEEDED", training.get("cause")
    output = json.loads(training["output"])
    assert output["training_subjects"] == SUBJECTS[:2]
    assert set(SUBJECTS[2:]) <= set(output["test_subjects"])
    client = MlflowClient(cloud.tracking_uri)
    run = client.get_run(output["run_id"])
    assert run.data.metrics, "the run has no metrics"
    assert run.data.tags["dataset_manifest_sha256"] == output["dataset_manifest_sha256"]
    artifacts = {a.path for a in client.list_artifacts(output["run_id"])}
    assert {"dataset_manifest.json", "training_subjects.json", "plots"} <= artifacts
    assert client.list_artifacts(output["run_id"], "plots")
    version = client.get_model_version_by_alias(REGISTERED_MODEL, CHALLENGER_ALIAS)
    assert version.version == str(output["model_version"])
    assert version.run_id == output["run_id"]
    stored = aws["s3"].list_objects_v2(Bucket=MLFLOW_ARTIFACTS_BUCKET).get("Contents", [])
    assert any(output["run_id"] in obj["Key"] for obj in stored)
