"""Hyperparameter tuning on the deployed train state machine: a Map of trials, the best registered.

Four synthetic subjects are processed, then one tuning runs four LDA trials: two sensible ones,
one whose epoch window (-0.1…0.1 s) misses the P300, and one whose window holds no sample (it
fails; the others go on); and one Xdawn-Riemann trial (its model must log like LDA's).
"""

import json
import time
import uuid

import pytest
from mlflow.tracking import MlflowClient

from p300 import raw_io, synthetic
from p300_aws.names import (
    CHALLENGER_ALIAS,
    INGEST_STATE_MACHINE,
    LANDING_BUCKET,
    REGISTERED_MODEL,
    TRAIN_STATE_MACHINE,
)
from p300_ops.localcloud import localstack

pytestmark = [pytest.mark.cloud, pytest.mark.slow, pytest.mark.timeout(900)]

RUN = uuid.uuid4().hex[:6].upper()
SUBJECTS = [f"T{RUN}{n}" for n in range(1, 5)]
TRIALS = [
    {"model_name": "lda", "window_s": [0.0, 0.6]},
    {"model_name": "lda", "window_s": [-0.1, 0.1]},  # before the P300: clearly worse
    {"model_name": "lda", "model_params": {"shrinkage": 0.1}, "window_s": [0.0, 0.6],
     "decimation": 2},
    {"model_name": "lda", "window_s": [0.7, 0.8]},  # past the epoch: this trial fails
    {"model_name": "xdawn-riemann", "model_params": {"nfilter": 2}},
]  # fmt: skip
MISSES_THE_P300, FAILS = 1, 3


@pytest.fixture(scope="module")
def aws(cloud):
    return {name: localstack.aws_client(name, cloud.localstack_port)
            for name in ("s3", "stepfunctions")}  # fmt: skip


def arn_of(aws, name: str) -> str:
    machines = aws["stepfunctions"].list_state_machines()["stateMachines"]
    return next(m["stateMachineArn"] for m in machines if m["name"] == name)


def execution_arns(aws, arn: str) -> set[str]:
    found = aws["stepfunctions"].list_executions(stateMachineArn=arn)["executions"]
    return {e["executionArn"] for e in found}


def wait_until_done(aws, execution_arns: list[str], *, timeout_s: float) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        described = [
            aws["stepfunctions"].describe_execution(executionArn=a) for a in execution_arns
        ]
        if all(e["status"] != "RUNNING" for e in described):
            return described
        time.sleep(1)
    raise AssertionError(f"executions did not finish in {timeout_s} s")


@pytest.fixture(scope="module")
def processed(aws):
    """The four subjects uploaded and processed (through the ingest state machine directly)."""
    arn = arn_of(aws, INGEST_STATE_MACHINE)
    known = execution_arns(aws, arn)
    for number, subject in enumerate(SUBJECTS, start=1):
        recording = synthetic.subject_session(
            seed=11, subject_number=number, duration_s=90.0, bad_channel_prob=0.0
        )
        key = f"subject_{subject}/subject_{subject}_eeg_stim.parquet"
        aws["s3"].put_object(
            Bucket=LANDING_BUCKET, Key=key, Body=raw_io.recording_to_parquet_bytes(recording)
        )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        new = execution_arns(aws, arn) - known
        if len(new) >= len(SUBJECTS):
            return wait_until_done(aws, sorted(new), timeout_s=180)
        time.sleep(1)
    raise AssertionError("the uploads did not start their ingest executions")


@pytest.fixture(scope="module")
def tuning(aws, processed):
    assert [e["status"] for e in processed] == ["SUCCEEDED"] * len(SUBJECTS)
    request = {"subjects": SUBJECTS[:2], "auto_set_challenger_alias": True, "seed": 42,
               "trials": TRIALS, "max_concurrency": 2}  # fmt: skip
    started = time.monotonic()
    execution_arn = aws["stepfunctions"].start_execution(
        stateMachineArn=arn_of(aws, TRAIN_STATE_MACHINE), input=json.dumps(request)
    )["executionArn"]
    (described,) = wait_until_done(aws, [execution_arn], timeout_s=240)
    described["elapsed_s"] = time.monotonic() - started
    return described


def test_tuning_registers_the_trial_with_the_best_held_out_auc(cloud, tuning):
    assert tuning["status"] == "SUCCEEDED", tuning.get("cause")
    output = json.loads(tuning["output"])
    table = {row["index"]: row for row in output["trials"]}
    assert sorted(table) == [0, 1, 2, 3, 4]
    assert table[FAILS]["status"] == "failed"
    assert "holds no sample" in table[FAILS]["cause"]
    succeeded = {i: row["roc_auc"] for i, row in table.items() if row["status"] == "succeeded"}
    assert sorted(succeeded) == [0, 1, 2, 4], table
    assert succeeded[MISSES_THE_P300] < min(succeeded[0], succeeded[2]) - 0.1
    best = max(succeeded, key=lambda i: (succeeded[i], -i))
    assert output["best_trial"] == best
    client = MlflowClient(cloud.tracking_uri)
    version = client.get_model_version_by_alias(REGISTERED_MODEL, CHALLENGER_ALIAS)
    assert version.version == str(output["model_version"])
    assert version.run_id == table[best]["run_id"] == output["best_run_id"]
    best_run = client.get_run(output["best_run_id"])
    assert best_run.data.metrics["test_roc_auc"] == pytest.approx(succeeded[best])


def test_trials_are_nested_runs_of_the_parent_which_holds_the_table(cloud, tuning):
    output = json.loads(tuning["output"])
    client = MlflowClient(cloud.tracking_uri)
    succeeded = [row for row in output["trials"] if row["status"] == "succeeded"]
    assert succeeded, output["trials"]
    for row in succeeded:
        run = client.get_run(row["run_id"])
        assert run.data.tags["mlflow.parentRunId"] == output["run_id"]
        assert run.info.status == "FINISHED"
    parent = client.get_run(output["run_id"])
    assert parent.info.status == "FINISHED"
    assert parent.data.params["best_trial"] == str(output["best_trial"])
    assert parent.data.metrics["best_roc_auc"] == pytest.approx(output["metrics"]["roc_auc"])
    artifacts = {a.path for a in client.list_artifacts(output["run_id"])}
    assert {"trials.json", "dataset_manifest.json"} <= artifacts
    print(f"\ntuning of {len(TRIALS)} trials took {tuning['elapsed_s']:.0f} s")
    for row in output["trials"]:
        print(row["index"], row["label"], row["roc_auc"], row["status"], row["duration_s"])
