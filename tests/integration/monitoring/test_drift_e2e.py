"""Drift detection on the local cloud: a model trained on normal subjects becomes champion; a
normal subject then passes, one with doubled amplitudes and one with a flat channel alert.

The tests run in file order against one cloud: reference subjects are processed while no model
is champion or challenger (aliases an earlier module set are put back at the end), a model is
trained on them through ``p300-train`` and made champion, then new subjects go through the
pipeline and are checked against it.
"""

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from p300 import raw_io, synthetic
from p300_aws.alerts import list_alerts
from p300_aws.drift_check import REFERENCE_ALIASES, REFERENCE_ARTIFACT, resolve_model
from p300_aws.mlflow_rest import MlflowRestTracker
from p300_aws.names import (
    ALERTS_TOPIC,
    CHAMPION_ALIAS,
    DRIFT_ALARM,
    DRIFT_METRIC,
    INGEST_STATE_MACHINE,
    LANDING_BUCKET,
    METRIC_NAMESPACE,
    REGISTERED_MODEL,
    TRAIN_STATE_MACHINE,
)
from p300_ops.localcloud import localstack
from tests.drift_subjects import scaled, with_flat_channel

pytestmark = [pytest.mark.cloud, pytest.mark.slow, pytest.mark.timeout(1500)]

RUN = uuid.uuid4().hex[:6].upper()
REFERENCE = [f"D{RUN}R{n}" for n in range(1, 6)]  # the first 4 train the model
NORMAL, SCALED, BROKEN = f"D{RUN}N", f"D{RUN}X", f"D{RUN}B"
OTHER_MONTAGE = f"D{RUN}M"  # 8 channels: the champion (16) cannot score it
BROKEN_CHANNEL = 3  # AFz
DURATION_S = 60.0
ALARM_WAIT_S = 300


def recording(number: int):
    return synthetic.subject_session(
        seed=29, subject_number=number, duration_s=DURATION_S, bad_channel_prob=0.0
    )


def landing_key(subject: str) -> str:
    return f"subject_{subject}/subject_{subject}_eeg_stim.parquet"


@pytest.fixture(scope="module")
def aws(cloud):
    names = ("s3", "stepfunctions", "sns", "sqs", "cloudwatch")
    return {name: localstack.aws_client(name, cloud.localstack_port) for name in names}


@pytest.fixture(scope="module")
def state_machines(aws) -> dict[str, str]:
    machines = aws["stepfunctions"].list_state_machines()["stateMachines"]
    return {m["name"]: m["stateMachineArn"] for m in machines}


@pytest.fixture(scope="module")
def alert_queue(aws):
    """An SQS queue subscribed to the alerts topic, as a user's alert inbox would be."""
    topic_arn = aws["sns"].create_topic(Name=ALERTS_TOPIC)["TopicArn"]  # idempotent: the stack's
    queue_url = aws["sqs"].create_queue(QueueName=f"drift-e2e-{RUN}")["QueueUrl"]
    queue_arn = aws["sqs"].get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    aws["sns"].subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return queue_url


def upload_and_wait(aws, state_machines, bodies: dict[str, bytes]) -> dict[str, dict]:
    """Upload each subject's raw file; the per-item result of each, once processed."""
    arn = state_machines[INGEST_STATE_MACHINE]
    known = {e["executionArn"] for e in aws["stepfunctions"].list_executions(stateMachineArn=arn)[
        "executions"]}  # fmt: skip
    for subject, body in bodies.items():
        aws["s3"].put_object(Bucket=LANDING_BUCKET, Key=landing_key(subject), Body=body)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        executions = [
            aws["stepfunctions"].describe_execution(executionArn=e["executionArn"])
            for e in aws["stepfunctions"].list_executions(stateMachineArn=arn)["executions"]
            if e["executionArn"] not in known
        ]
        if len(executions) >= len(bodies) and all(e["status"] != "RUNNING" for e in executions):
            results = [r for e in executions for r in json.loads(e["output"])["results"]]
            return {r["subject"]: r for r in results if r.get("subject") in bodies}
        time.sleep(1)
    raise AssertionError(f"{len(bodies)} executions did not finish in 300 s")


def model_aliases(client: MlflowClient) -> dict[str, str]:
    """``{alias: version}`` of the registered model (none before its first registration)."""
    try:
        return dict(client.get_registered_model(REGISTERED_MODEL).aliases)
    except MlflowException:
        return {}


@pytest.fixture(scope="module")
def no_reference_model(cloud):
    """No version of the registered model behind an alias the drift check reads, while this
    module runs (an earlier module of the shared cloud may have set them); put back at the end."""
    client = MlflowClient(tracking_uri=cloud.tracking_uri, registry_uri=cloud.tracking_uri)
    saved = {a: v for a, v in model_aliases(client).items() if a in REFERENCE_ALIASES}
    for alias in saved:
        client.delete_registered_model_alias(REGISTERED_MODEL, alias)
    assert resolve_model(MlflowRestTracker(cloud.tracking_uri)) is None
    yield
    now = model_aliases(client)
    for alias in REFERENCE_ALIASES:
        if alias in saved:
            client.set_registered_model_alias(REGISTERED_MODEL, alias, saved[alias])
        elif alias in now:
            client.delete_registered_model_alias(REGISTERED_MODEL, alias)


@pytest.fixture(scope="module")
def reference_subjects(aws, state_machines, no_reference_model):
    """The reference subjects processed while no model is champion or challenger."""
    bodies = {
        subject: raw_io.recording_to_parquet_bytes(recording(number))
        for number, subject in enumerate(REFERENCE, start=1)
    }
    return upload_and_wait(aws, state_machines, bodies)


@pytest.fixture(scope="module")
def champion(cloud, aws, state_machines, reference_subjects) -> dict:
    """A model trained on 4 reference subjects through ``p300-train``, set as champion."""
    request = {"subjects": REFERENCE[:4], "model_name": "lda", "seed": 42}
    execution_arn = aws["stepfunctions"].start_execution(
        stateMachineArn=state_machines[TRAIN_STATE_MACHINE], input=json.dumps(request)
    )["executionArn"]
    deadline = time.monotonic() + 300
    while (described := aws["stepfunctions"].describe_execution(executionArn=execution_arn))[
        "status"
    ] == "RUNNING":
        assert time.monotonic() < deadline, "training did not finish in 300 s"
        time.sleep(1)
    assert described["status"] == "SUCCEEDED", described.get("cause")
    output = json.loads(described["output"])
    client = MlflowClient(tracking_uri=cloud.tracking_uri, registry_uri=cloud.tracking_uri)
    client.set_registered_model_alias(REGISTERED_MODEL, CHAMPION_ALIAS, output["model_version"])
    return output


@pytest.fixture(scope="module")
def checked(aws, state_machines, champion, alert_queue) -> dict[str, dict]:
    """A normal, a doubled-amplitude and a broken-channel subject processed after the champion."""
    started = datetime.now(UTC)
    bodies = {
        NORMAL: recording(6),
        SCALED: scaled(recording(7), 2.0),
        BROKEN: with_flat_channel(recording(8), BROKEN_CHANNEL),
        OTHER_MONTAGE: synthetic.subject_session(
            seed=29, subject_number=9, duration_s=DURATION_S, bad_channel_prob=0.0, n_channels=8
        ),
    }
    results = upload_and_wait(
        aws,
        state_machines,
        {subject: raw_io.recording_to_parquet_bytes(r) for subject, r in bodies.items()},
    )
    return {"results": results, "started": started, "checked_at": datetime.now(UTC)}


def test_subjects_arriving_before_any_model_are_processed_without_a_reference(reference_subjects):
    assert sorted(reference_subjects) == sorted(REFERENCE)
    for result in reference_subjects.values():
        assert result["outcome"] == "processed", result
        drift = result["drift"]
        assert drift["status"] == "no reference", drift
        assert "no version of P300-Classifier has alias champion or challenger" in drift["reason"]


def test_an_alias_set_on_no_version_resolves_to_none(cloud, champion):
    # The model exists, the alias does not: MLflow answers 400, which means "not set".
    tracker = MlflowRestTracker(cloud.tracking_uri)
    assert resolve_model(tracker, aliases=("no-such-alias",)) is None
    found = resolve_model(tracker, aliases=("no-such-alias", CHAMPION_ALIAS))
    assert (found.alias, found.version) == (CHAMPION_ALIAS, str(champion["model_version"]))


def test_another_montage_is_reported_incompatible_not_drifted(aws, champion, checked):
    drift = checked["results"][OTHER_MONTAGE]["drift"]
    assert drift["status"] == "incompatible", drift
    assert "ch_names must equal the reference's" in drift["reason"]
    assert drift["reference"]["version"] == str(champion["model_version"])
    assert not [a for a in list_alerts(aws["s3"], kind="drift") if a.subject == OTHER_MONTAGE]


def test_training_logs_the_drift_reference_of_its_training_subjects(cloud, champion):
    client = MlflowClient(tracking_uri=cloud.tracking_uri)
    path = client.download_artifacts(champion["run_id"], REFERENCE_ARTIFACT)
    with open(path) as file:
        reference = json.load(file)
    assert len(reference["ch_names"]) == 16
    assert len(reference["values"][0]) == 2000
    assert champion["training_subjects"] == REFERENCE[:4]


def test_a_normal_subject_passes_and_publishes_0(aws, champion, checked):
    drift = checked["results"][NORMAL]["drift"]
    assert drift["status"] == "checked", drift
    assert drift["drifted"] is False, drift
    assert drift["reference"] == {
        "model": REGISTERED_MODEL, "alias": CHAMPION_ALIAS,
        "version": champion["model_version"], "run_id": champion["run_id"], "study": "system-a",
    }  # fmt: skip
    assert drift["alert_key"] is None
    assert not [a for a in list_alerts(aws["s3"], kind="drift") if a.subject == NORMAL]
    assert subject_maximum(aws, NORMAL) == 0


@pytest.mark.parametrize("subject", [SCALED, BROKEN], ids=["scaled", "broken"])
def test_a_drifted_subject_alerts_with_evidence_and_publishes_1(aws, champion, checked, subject):
    drift = checked["results"][subject]["drift"]
    assert drift["status"] == "checked", drift
    assert drift["drifted"] is True
    (alert,) = [a for a in list_alerts(aws["s3"], kind="drift") if a.subject == subject]
    evidence = alert.evidence
    assert evidence["drifted_channels"] == drift["drifted_channels"]
    assert evidence["reference_model"]["version"] == champion["model_version"]
    assert evidence["threshold"] == pytest.approx(0.05 / 16)
    assert len(evidence["channels"]) == 16
    for channel in evidence["channels"]:
        assert {"ks_statistic", "p_value", "psi"} <= set(channel)
    assert subject_maximum(aws, subject) == 1


def test_a_broken_channel_is_named(checked):
    drift = checked["results"][BROKEN]["drift"]
    assert drift["drifted_channels"] == [synthetic.BRAIN_INVADERS_CHANNELS[BROKEN_CHANNEL]]


def test_doubled_amplitudes_drift_on_most_channels(checked):
    assert len(checked["results"][SCALED]["drift"]["drifted_channels"]) >= 8


def test_drift_alerts_reach_the_topic(aws, checked, alert_queue):
    subjects, started = [], time.monotonic()
    while time.monotonic() - started < 60 and len(subjects) < 2:
        messages = (
            aws["sqs"]
            .receive_message(QueueUrl=alert_queue, MaxNumberOfMessages=10, WaitTimeSeconds=2)
            .get("Messages", [])
        )
        for message in messages:
            alert = json.loads(json.loads(message["Body"])["Message"])
            # The topic also carries the alarms' own notifications (another module's health
            # alarm, in a full run), which have no "kind".
            if alert.get("kind") == "drift" and alert["subject"] in (SCALED, BROKEN):
                subjects.append(alert["subject"])
    assert sorted(subjects) == sorted([SCALED, BROKEN])


def test_the_drift_alarm_goes_to_alarm(aws, checked):
    deadline = time.monotonic() + ALARM_WAIT_S
    while time.monotonic() < deadline:
        (alarm,) = aws["cloudwatch"].describe_alarms(AlarmNames=[DRIFT_ALARM])["MetricAlarms"]
        if alarm["StateValue"] == "ALARM":
            break
        time.sleep(2)
    now = datetime.now(UTC)
    assert alarm["StateValue"] == "ALARM", alarm["StateReason"]
    assert (alarm["Namespace"], alarm["MetricName"]) == (METRIC_NAMESPACE, DRIFT_METRIC)
    print(
        f"{DRIFT_ALARM} in ALARM {(now - checked['started']).total_seconds():.0f} s after the "
        f"uploads, {(now - checked['checked_at']).total_seconds():.0f} s after their checks"
    )


def subject_maximum(aws, subject: str) -> float:
    """The largest ``DriftDetected`` of ``subject`` in the last 15 minutes."""
    now = datetime.now(UTC)
    datapoints = aws["cloudwatch"].get_metric_statistics(
        Namespace=METRIC_NAMESPACE,
        MetricName=DRIFT_METRIC,
        Dimensions=[{"Name": "Subject", "Value": subject}],
        StartTime=now - timedelta(minutes=15),
        EndTime=now + timedelta(minutes=1),
        Period=60,
        Statistics=["Maximum"],
    )["Datapoints"]
    assert datapoints, f"no {DRIFT_METRIC} datapoint for subject {subject}"
    return max(point["Maximum"] for point in datapoints)
