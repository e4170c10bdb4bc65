"""Dataset versions on the deployed cloud: two trainings on changing data, their manifests listed
and compared, and a retraining on the first manifest that reproduces the first run's metrics
although the features bucket now holds newer versions.

The tests of this module share one local cloud and run in order.
"""

import json
import time
import uuid

import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from p300 import raw_io, synthetic
from p300_aws.datasets import DatasetVersionError, parse_manifest, read_manifest_versions
from p300_aws.names import FEATURES_BUCKET, INGEST_STATE_MACHINE, LANDING_BUCKET
from p300_aws.s3_objects import sha256_hex
from p300_ops.cli import main
from p300_ops.localcloud import localstack

pytestmark = [pytest.mark.cloud, pytest.mark.slow, pytest.mark.timeout(900)]

RUN = uuid.uuid4().hex[:6].upper()
SUBJECTS = [f"D{RUN}{n}" for n in range(1, 5)]
DURATION_S = 90.0
#: Not the defaults: the replay must take them from run A, not from the command line. Named
#: subjects, because the cloud is shared: with a percentage, training would use the feature schema
#: most subjects in the bucket have, which other modules' subjects may decide.
TRAIN_ARGS = ("--subjects", ",".join(SUBJECTS[:2]), "--seed", "3")


def recording_bytes(number: int, *, seed: int = 11) -> bytes:
    recording = synthetic.subject_session(
        seed=seed, subject_number=number, duration_s=DURATION_S, bad_channel_prob=0.0
    )
    return raw_io.recording_to_parquet_bytes(recording)


def features_key(subject: str) -> str:
    return f"study=system-a/subject={subject}/session=01/features.parquet"


def cli(cloud, *args: str) -> dict | list:
    result = CliRunner().invoke(main, [*args, "--json", "--home", cloud.home])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def aws(cloud):
    return {name: localstack.aws_client(name, cloud.localstack_port)
            for name in ("s3", "stepfunctions")}  # fmt: skip


def upload_and_process(aws, uploads: dict[str, bytes], *, timeout_s: float = 240) -> None:
    """Upload ``{subject: recording}`` to the landing zone; wait until every one is processed."""
    sfn = aws["stepfunctions"]
    (arn,) = [m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]
              if m["name"] == INGEST_STATE_MACHINE]  # fmt: skip
    known = {e["executionArn"] for e in sfn.list_executions(stateMachineArn=arn)["executions"]}
    for subject, body in uploads.items():
        key = f"subject_{subject}/subject_{subject}_eeg_stim.parquet"
        aws["s3"].put_object(Bucket=LANDING_BUCKET, Key=key, Body=body)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        new = [sfn.describe_execution(executionArn=e["executionArn"])
               for e in sfn.list_executions(stateMachineArn=arn)["executions"]
               if e["executionArn"] not in known]  # fmt: skip
        if len(new) >= len(uploads) and all(e["status"] != "RUNNING" for e in new):
            results = [r for e in new for r in json.loads(e["output"])["results"]]
            processed = {r["subject"] for r in results if r["outcome"] == "processed"}
            assert processed == set(uploads), results
            return
        time.sleep(1)
    raise AssertionError(f"{sorted(uploads)} were not processed in {timeout_s} s")


@pytest.fixture(scope="module")
def runs(cloud, aws):
    """Run A on 3 subjects; then subject 2 re-recorded and subject 4 added; run B."""
    upload_and_process(aws, {s: recording_bytes(n) for n, s in enumerate(SUBJECTS[:3], 1)})
    run_a = cli(cloud, "train", *TRAIN_ARGS)
    upload_and_process(
        aws, {SUBJECTS[1]: recording_bytes(2, seed=12), SUBJECTS[3]: recording_bytes(4)}
    )
    run_b = cli(cloud, "train", *TRAIN_ARGS)
    return run_a, run_b


def test_each_training_records_another_manifest(runs):
    run_a, run_b = runs
    assert run_a["dataset_manifest_sha256"] != run_b["dataset_manifest_sha256"]
    assert set(SUBJECTS[:3]) <= set(run_a["training_subjects"] + run_a["test_subjects"])
    assert SUBJECTS[3] not in run_a["training_subjects"] + run_a["test_subjects"]


def test_datasets_list_shows_both_runs(cloud, runs):
    listed = {row["run_id"]: row for row in cli(cloud, "datasets", "list")}
    for run in runs:
        row = listed[run["run_id"]]
        assert row["manifest_sha256"] == run["dataset_manifest_sha256"]
        assert row["model_versions"] == [str(run["model_version"])]
        assert row["roc_auc"] == pytest.approx(run["metrics"]["roc_auc"], abs=1e-12)
    assert listed[runs[1]["run_id"]]["n_objects"] == listed[runs[0]["run_id"]]["n_objects"] + 1


def test_datasets_diff_shows_the_added_and_the_changed_object(cloud, runs):
    run_a, run_b = runs
    diff = cli(cloud, "datasets", "diff", run_a["run_id"], run_b["dataset_manifest_sha256"][:10])
    assert (diff["old"], diff["new"]) == (
        run_a["dataset_manifest_sha256"], run_b["dataset_manifest_sha256"]
    )  # fmt: skip
    assert [e["key"] for e in diff["added"]] == [features_key(SUBJECTS[3])]
    assert [c["new"]["key"] for c in diff["changed"]] == [features_key(SUBJECTS[1])]
    (changed,) = diff["changed"]
    assert changed["old"]["version_id"] != changed["new"]["version_id"]
    assert diff["removed"] == []
    assert diff["unchanged"] >= 2


@pytest.fixture(scope="module")
def replay(cloud, runs):
    return cli(cloud, "train", "--dataset", runs[0]["dataset_manifest_sha256"][:8])


def test_training_on_manifest_a_reads_exactly_its_versions(cloud, aws, runs, replay):
    run_a, _ = runs
    assert replay["dataset_manifest_sha256"] == run_a["dataset_manifest_sha256"]
    shown = cli(cloud, "datasets", "show", replay["run_id"])
    assert (shown["sha256"], shown["run_id"]) == (
        run_a["dataset_manifest_sha256"],
        replay["run_id"],
    )
    by_hash = cli(cloud, "datasets", "show", run_a["dataset_manifest_sha256"])
    assert by_hash["run_id"] == run_a["run_id"]  # the earliest run that recorded it
    changed = next(o for o in shown["objects"] if o["key"] == features_key(SUBJECTS[1]))
    current = aws["s3"].head_object(Bucket=FEATURES_BUCKET, Key=changed["key"])["VersionId"]
    assert changed["version_id"] != current, "the bucket should hold a newer version by now"


def test_training_on_manifest_a_reproduces_its_split_and_metrics(cloud, runs, replay):
    run_a, _ = runs
    assert replay["training_subjects"] == run_a["training_subjects"]
    assert replay["test_subjects"] == run_a["test_subjects"]
    assert replay["metrics"] == pytest.approx(run_a["metrics"], rel=0, abs=1e-12)
    client = MlflowClient(cloud.tracking_uri)
    logged_a = client.get_run(run_a["run_id"]).data
    logged_replay = client.get_run(replay["run_id"]).data
    held_out = {k: v for k, v in logged_a.metrics.items() if k.startswith("test_")}
    assert len(held_out) > 6
    assert {k: logged_replay.metrics[k] for k in held_out} == pytest.approx(held_out, abs=1e-12)
    for name in ("seed", "training_subjects_percentage", "model_name"):
        assert logged_replay.params[name] == logged_a.params[name]


def test_a_tampered_or_deleted_version_is_named(aws, runs, replay):
    s3 = aws["s3"]
    key = f"scratch-{RUN}/features.parquet"
    version = s3.put_object(Bucket=FEATURES_BUCKET, Key=key, Body=b"gone")["VersionId"]
    s3.delete_object(Bucket=FEATURES_BUCKET, Key=key, VersionId=version)
    kept = s3.put_object(Bucket=FEATURES_BUCKET, Key=key, Body=b"kept")["VersionId"]
    entry = {"bucket": FEATURES_BUCKET, "key": key, "subject": "x", "session": "01"}
    deleted = parse_manifest(
        {"objects": [entry | {"version_id": version, "sha256": sha256_hex(b"gone")}]}
    )
    with pytest.raises(DatasetVersionError, match=f"{key} version {version} no longer exists"):
        read_manifest_versions(s3, deleted)
    tampered = parse_manifest(
        {"objects": [entry | {"version_id": kept, "sha256": sha256_hex(b"x")}]}
    )
    with pytest.raises(DatasetVersionError, match=f"{key} version {kept} has SHA-256"):
        read_manifest_versions(s3, tampered)
