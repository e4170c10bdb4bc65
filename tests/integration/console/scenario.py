"""The pipeline run the console's browser tests look at, made on a real local cloud: one catch-up
execution with valid subjects, one quarantined file and one failed subject; trainings by the real
training state machine; and a 70/30 traffic split set with the CLI."""

import json
import time
import uuid
from dataclasses import dataclass

from click.testing import CliRunner

from p300 import raw_io, synthetic
from p300_aws import keys
from p300_aws.names import INGEST_STATE_MACHINE, LANDING_BUCKET, RAW_BUCKET
from p300_ops.cli import main
from p300_ops.localcloud.localstack import aws_client

#: Unique per run: a shared cloud's earlier data cannot interfere.
RUN = uuid.uuid4().hex[:5].upper()


@dataclass(frozen=True)
class PipelineRun:
    """One catch-up execution: ``valid`` subjects processed, ``quarantined`` (its landing key)
    and ``failed`` (a raw object that is not Parquet, so preprocessing fails)."""

    execution: str
    valid: list[str]
    quarantined_key: str
    quarantined_subject: str
    failed: str


def cli(home: str, *args: str) -> str:
    result = CliRunner().invoke(main, [*args, "--home", home])
    assert result.exit_code == 0, result.output
    return result.stdout


def recording(number: int, *, duration_s: float = 60.0) -> bytes:
    session = synthetic.subject_session(
        seed=5, subject_number=number, duration_s=duration_s, bad_channel_prob=0.0
    )
    return raw_io.recording_to_parquet_bytes(session)


def landing_rule(events) -> str:
    (rule,) = [
        r["Name"] for r in events.list_rules()["Rules"] if "aws.s3" in r.get("EventPattern", "")
    ]
    return rule


def catch_up_run(cloud, *, n_valid: int = 3) -> PipelineRun:
    """Land ``n_valid`` recordings and one broken file while the upload rule is off, put one raw
    object that is not Parquet, then start one catch-up execution and wait for it."""
    s3, events = (
        aws_client("s3", cloud.localstack_port),
        aws_client("events", cloud.localstack_port),
    )
    sfn = aws_client("stepfunctions", cloud.localstack_port)
    valid = [f"C{RUN}{n}" for n in range(1, n_valid + 1)]
    bad, failed = f"Q{RUN}", f"F{RUN}"
    rule = landing_rule(events)
    events.disable_rule(Name=rule)
    try:
        for number, subject in enumerate(valid, start=1):
            key = f"subject_{subject}/subject_{subject}_eeg_stim.parquet"
            s3.put_object(Bucket=LANDING_BUCKET, Key=key, Body=recording(number))
        quarantined_key = f"subject_{bad}/subject_{bad}_eeg_stim.parquet"
        s3.put_object(Bucket=LANDING_BUCKET, Key=quarantined_key, Body=b"not a parquet file")
        s3.put_object(Bucket=RAW_BUCKET, Key=failed_raw_key(failed),
                      Body=b"raw bytes that are not Parquet")  # fmt: skip
    finally:
        events.enable_rule(Name=rule)
    machines = {m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
    name = f"catch-up-{RUN}"
    arn = sfn.start_execution(stateMachineArn=machines[INGEST_STATE_MACHINE], name=name,
                              input=json.dumps({"catch_up": True}))["executionArn"]  # fmt: skip
    deadline = time.monotonic() + 300
    while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
        assert time.monotonic() < deadline, f"{name} still running after 300 s"
        time.sleep(1)
    return PipelineRun(name, valid, quarantined_key, bad, failed)


def forget_failed_subject(cloud, run: PipelineRun) -> None:
    """Remove the raw object of the failed subject, so later catch-up runs do not retry it."""
    s3 = aws_client("s3", cloud.localstack_port)
    s3.delete_object(Bucket=RAW_BUCKET, Key=failed_raw_key(run.failed))


def failed_raw_key(subject: str) -> str:
    """Where ingest would have put the failed subject's recording (study system-a)."""
    return keys.raw_key(keys.SubjectSession(keys.DEFAULT_STUDY, subject, keys.DEFAULT_SESSION))


def train(home: str, subjects: list[str]) -> dict:
    """A training by the train state machine (`p300 train`), registered as challenger."""
    output = cli(home, "train", "--subjects", ",".join(subjects), "--auto-set-challenger-alias",
                 "--json")  # fmt: skip
    return json.loads(output)
