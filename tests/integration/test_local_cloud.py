"""`p300 up/down/status/logs` against the real thing, and nothing lost across restarts.

One local cloud goes through a scenario: deploy, fill buckets and MLflow, `down` + `up`, then a
`kill -9` of LocalStack + `up`; after each restart everything must be back. Each test also passes
alone or after any other: the cloud is started again when a test left it down, and filled once.
"""

import hashlib
import os
import tempfile
from pathlib import Path

import pytest
from mlflow import MlflowClient

from p300_ops.localcloud import lifecycle
from p300_ops.localcloud.localstack import aws_client
from p300_ops.localcloud.processes import kill_server
from tests.integration.cloud_helpers import alive, cloud_config, process_family

pytestmark = [pytest.mark.cloud, pytest.mark.slow, pytest.mark.timeout(900)]

BUCKETS = {"p300-landing-zone", "p300-raw-data", "p300-processed-features", "p300-mlflow-artifacts"}


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    config = cloud_config(tmp_path_factory.mktemp("lifecycle"))
    state = lifecycle.up(config, progress=lambda _: None)
    box = {"config": config, "state": state}
    yield box
    if lifecycle.CloudState.load(config.home):
        lifecycle.down(config.home)


def started(scenario: dict) -> dict:
    """The scenario, its cloud started again when an earlier test left it down."""
    if lifecycle.CloudState.load(scenario["config"].home) is None:
        scenario["state"] = lifecycle.up(scenario["config"], progress=lambda _: None)
    return scenario


@pytest.fixture
def running(scenario):
    return started(scenario)


@pytest.fixture(scope="module")
def filled(scenario) -> dict:
    """What `_fill` stored in the scenario's cloud (once per module), to find after restarts."""
    return _fill(started(scenario))


def s3(box):
    return aws_client("s3", box["state"].localstack_port)


def test_deploy_creates_the_four_buckets(running):
    client = s3(running)
    names = {b["Name"] for b in client.list_buckets()["Buckets"]}
    assert names >= BUCKETS
    for versioned in ("p300-raw-data", "p300-processed-features"):
        assert client.get_bucket_versioning(Bucket=versioned).get("Status") == "Enabled"
    for plain in ("p300-landing-zone", "p300-mlflow-artifacts"):
        assert "Status" not in client.get_bucket_versioning(Bucket=plain)
    notification = client.get_bucket_notification_configuration(Bucket="p300-landing-zone")
    assert "EventBridgeConfiguration" in notification


def test_status_reports_every_component_healthy(running):
    rows = lifecycle.status(running["config"].home)
    assert [r.name for r in rows] == ["localstack", "mlflow", "stack P300Platform"]
    assert all(r.healthy for r in rows), rows
    assert rows[0].port == running["config"].localstack_port
    assert rows[1].port == running["config"].mlflow_port
    assert rows[2].detail == "CREATE_COMPLETE"


def test_second_up_starts_nothing(running):
    before = {p.pid for p in process_family(running["state"])}
    with pytest.raises(lifecycle.AlreadyRunning, match="already running"):
        lifecycle.up(running["config"], progress=lambda _: None)
    assert {p.pid for p in process_family(running["state"])} == before


def test_logs_show_localstack_and_mlflow(running):
    home = running["config"].home
    assert "Ready." in lifecycle.logs(home, "localstack", lines=500)
    assert "/health" in lifecycle.logs(home, "mlflow", lines=500)


PLAIN_BUCKET = "p300-mlflow-artifacts"


def _fill(box) -> dict:
    """Objects (versioned, deleted, multi-MB), an MLflow run, artifact and registered model."""
    client = s3(box)
    big = os.urandom(6 * 1024 * 1024)
    # An unversioned bucket nothing watches: a landing-zone object would be ingested (and moved).
    client.put_object(Bucket=PLAIN_BUCKET, Key="restart-check/plain.txt", Body=b"plain")
    client.put_object(Bucket=PLAIN_BUCKET, Key="restart-check/gone.txt", Body=b"x")
    client.delete_object(Bucket=PLAIN_BUCKET, Key="restart-check/gone.txt")
    v1 = client.put_object(Bucket="p300-raw-data", Key="s/raw.parquet", Body=b"v1")["VersionId"]
    v2 = client.put_object(Bucket="p300-raw-data", Key="s/raw.parquet", Body=big)["VersionId"]

    registry = MlflowClient(box["state"].tracking_uri)
    run = registry.create_run(registry.create_experiment("restart-check"))
    registry.log_param(run.info.run_id, "shrinkage", "auto")
    registry.log_metric(run.info.run_id, "roc_auc", 0.81)
    registry.log_text(run.info.run_id, "hello artifacts", "notes/hello.txt")
    registry.set_terminated(run.info.run_id)
    registry.create_registered_model("P300-Classifier")
    version = registry.create_model_version(
        "P300-Classifier", f"runs:/{run.info.run_id}/notes", run.info.run_id
    )
    registry.set_registered_model_alias("P300-Classifier", "challenger", version.version)
    return {
        "run_id": run.info.run_id,
        "versions": [v1, v2],
        "big_sha": hashlib.sha256(big).hexdigest(),
    }


def _check_everything_back(box, expected) -> None:
    client = s3(box)
    assert {b["Name"] for b in client.list_buckets()["Buckets"]} >= BUCKETS
    body = client.get_object(Bucket=PLAIN_BUCKET, Key="restart-check/plain.txt")["Body"]
    assert body.read() == b"plain"
    with pytest.raises(client.exceptions.NoSuchKey):
        client.get_object(Bucket=PLAIN_BUCKET, Key="restart-check/gone.txt")
    listed = client.list_object_versions(Bucket="p300-raw-data", Prefix="s/")["Versions"]
    assert sorted(v["VersionId"] for v in listed) == sorted(expected["versions"])
    v1, v2 = expected["versions"]
    old = client.get_object(Bucket="p300-raw-data", Key="s/raw.parquet", VersionId=v1)
    assert old["Body"].read() == b"v1"
    latest = client.get_object(Bucket="p300-raw-data", Key="s/raw.parquet")
    assert latest["VersionId"] == v2
    assert hashlib.sha256(latest["Body"].read()).hexdigest() == expected["big_sha"]

    registry = MlflowClient(box["state"].tracking_uri)
    run = registry.get_run(expected["run_id"])
    assert run.data.metrics["roc_auc"] == pytest.approx(0.81)
    assert run.data.params["shrinkage"] == "auto"
    with tempfile.TemporaryDirectory() as folder:
        text = Path(registry.download_artifacts(expected["run_id"], "notes/hello.txt", folder))
        assert text.read_text() == "hello artifacts"
    assert registry.get_model_version_by_alias("P300-Classifier", "challenger").version == "1"
    keys = [o["Key"] for o in client.list_objects_v2(Bucket="p300-mlflow-artifacts")["Contents"]]
    assert any(k.endswith("notes/hello.txt") for k in keys)

    stack = aws_client("cloudformation", box["state"].localstack_port).describe_stacks(
        StackName="P300Platform"
    )["Stacks"][0]
    assert stack["StackStatus"] in {"CREATE_COMPLETE", "UPDATE_COMPLETE"}


def test_down_then_up_loses_nothing_and_leaves_no_process(running, filled):
    scenario, expected = running, filled
    family = process_family(scenario["state"])
    assert len(family) >= 2
    assert lifecycle.down(scenario["config"].home) == ["mlflow", "localstack"]
    assert alive(family) == []

    scenario["state"] = lifecycle.up(scenario["config"], progress=lambda _: None)
    _check_everything_back(scenario, expected)


def test_kill_9_of_localstack_then_up_loses_nothing(running, filled):
    scenario, expected = running, filled
    client = s3(scenario)
    client.put_object(Bucket="p300-processed-features", Key="late.bin", Body=b"acknowledged")
    old_family = process_family(scenario["state"])
    kill_server(scenario["state"].servers["localstack"])  # SIGKILL, then wait until it is gone

    messages = []
    scenario["state"] = lifecycle.up(scenario["config"], progress=messages.append)
    assert any("restarting" in m for m in messages)
    assert alive(old_family) == []  # the surviving MLflow was stopped, LocalStack's children died
    _check_everything_back(scenario, expected)
    late = s3(scenario).get_object(Bucket="p300-processed-features", Key="late.bin")
    assert late["Body"].read() == b"acknowledged"


def test_down_when_nothing_runs_says_so(running):
    lifecycle.down(running["config"].home)
    with pytest.raises(lifecycle.NothingRunning, match="nothing is running"):
        lifecycle.down(running["config"].home)
