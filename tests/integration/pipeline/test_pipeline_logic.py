"""The pipeline's logic modules against the real local cloud (LocalStack S3 and MLflow).

The modules are called directly, not through Lambda. While this module runs, the EventBridge rules
that would start the deployed state machine on landing-zone uploads are disabled, so that no
execution races these calls. Subject ids carry a per-session prefix: other test modules may share
the buckets.
"""

import dataclasses
import json
import logging
import uuid
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient

from p300.raw_io import recording_to_parquet_bytes
from p300.studies import SYSTEM_A, new_study
from p300.synthetic import make_session
from p300_aws import ingest, planning, processing, studies, training
from p300_aws.data_quality import QualityChannel
from p300_aws.errors import MissingObjectError, MlflowUnavailableError
from p300_aws.events import parse_event
from p300_aws.mlflow_tracking import MlflowTracker, RetryPolicy
from p300_aws.names import (
    ALERTS_TOPIC,
    CHALLENGER_ALIAS,
    FEATURES_BUCKET,
    LANDING_BUCKET,
    MLFLOW_ARTIFACTS_BUCKET,
    PREPROCESSING_EXPERIMENT,
    RAW_BUCKET,
    REGISTERED_MODEL,
)
from p300_aws.s3_objects import head_object, list_keys, sha256_hex
from p300_ops.localcloud import mlflow_server
from p300_ops.localcloud.localstack import aws_client
from p300_ops.localcloud.processes import free_port, stop_server

pytestmark = [pytest.mark.cloud, pytest.mark.timeout(900)]

PREFIX = f"t{uuid.uuid4().hex[:6]}"
PARAMS = SYSTEM_A.params
SA = SYSTEM_A.name


def subject_id(number: int) -> str:
    return f"{PREFIX}-{number:02d}"


def recording_bytes(number: int, **changes) -> bytes:
    recording = make_session(seed=number, duration_s=60, subject=subject_id(number))
    return recording_to_parquet_bytes(dataclasses.replace(recording, **changes))


@pytest.fixture(scope="module")
def s3(cloud):
    client = aws_client("s3", cloud.localstack_port)
    events = aws_client("events", cloud.localstack_port)
    landing_rules = [
        rule["Name"]
        for rule in events.list_rules()["Rules"]
        if LANDING_BUCKET in rule.get("EventPattern", "") and rule["State"] == "ENABLED"
    ]
    for name in landing_rules:
        events.disable_rule(Name=name)
    yield client
    for name in landing_rules:
        events.enable_rule(Name=name)


@pytest.fixture(scope="module")
def tracker(cloud):
    return MlflowTracker(cloud.tracking_uri, policy=RetryPolicy(attempts=2, backoff_s=0.1))


@pytest.fixture(scope="module")
def quality(cloud, s3):
    """The data-quality channel the preprocess Lambda uses: the stack's alerts topic and
    CloudWatch."""
    sns = aws_client("sns", cloud.localstack_port)
    topic_arn = sns.create_topic(Name=ALERTS_TOPIC)["TopicArn"]  # idempotent: the stack's
    return QualityChannel(
        s3, sns, aws_client("cloudwatch", cloud.localstack_port), topic_arn=topic_arn
    )


def preprocess(s3, tracker, request, quality) -> processing.PreprocessResult:
    """`processing.preprocess_object` as the preprocess Lambda calls it."""
    return processing.preprocess_object(
        s3, tracker, request, profiles=studies.StudyProfiles(s3), quality=quality
    )


@pytest.fixture(scope="module")
def mlflow_client(cloud):
    return MlflowClient(cloud.tracking_uri)


def upload(s3, key: str, body: bytes) -> None:
    s3.put_object(Bucket=LANDING_BUCKET, Key=key, Body=body)


def landing_exists(s3, key: str) -> bool:
    try:
        head_object(s3, LANDING_BUCKET, key)
    except MissingObjectError:
        return False
    return True


def ingest_and_process(s3, tracker, quality, number: int):
    key = f"subject_{subject_id(number)}/subject_{subject_id(number)}_eeg_stim.parquet"
    upload(s3, key, recording_bytes(number))
    result = ingest.ingest_object(s3, key, profiles=studies.StudyProfiles(s3))
    request = parse_event(processing.PreprocessRequest, result.model_dump(mode="json"))
    return result, preprocess(s3, tracker, request, quality)


def test_valid_upload_is_ingested_then_landing_emptied(s3):
    body = recording_bytes(1)
    key = f"subject_{subject_id(1)}/session_02/morning run.parquet"
    upload(s3, key, body)
    result = ingest.ingest_object(s3, key, profiles=studies.StudyProfiles(s3))
    assert (result.outcome, result.subject, result.session) == ("ingested", subject_id(1), "02")
    assert result.raw_key == f"study={SA}/subject={subject_id(1)}/session=02/eeg.parquet"
    assert result.needs_processing and result.sha256 == sha256_hex(body)
    stored = s3.get_object(Bucket=RAW_BUCKET, Key=result.raw_key, VersionId=result.raw_version_id)
    assert stored["Body"].read() == body
    assert stored["Metadata"]["sha256"] == sha256_hex(body)
    landing_key_metadata = f"subject_{subject_id(1)}/session_02/morning%20run.parquet"
    assert stored["Metadata"]["landing-key"] == landing_key_metadata
    assert not landing_exists(s3, key)


def test_duplicate_upload_is_dropped_and_processed_only_while_features_are_missing(
    s3, tracker, quality
):
    body = recording_bytes(2)
    key = f"subject_{subject_id(2)}/a.parquet"
    upload(s3, key, body)
    first = ingest.ingest_object(s3, key, profiles=studies.StudyProfiles(s3))
    upload(s3, key, body)
    second = ingest.ingest_object(s3, key, profiles=studies.StudyProfiles(s3))
    assert (second.outcome, second.raw_version_id) == ("duplicate", first.raw_version_id)
    assert second.needs_processing  # no features yet
    assert not landing_exists(s3, key)
    request = parse_event(processing.PreprocessRequest, second.model_dump(mode="json"))
    preprocess(s3, tracker, request, quality)
    upload(s3, key, body)
    third = ingest.ingest_object(s3, key, profiles=studies.StudyProfiles(s3))
    assert (third.outcome, third.needs_processing) == ("duplicate", False)
    assert not landing_exists(s3, key)


def _no_targets(number):
    recording = make_session(seed=number, duration_s=60)
    return recording_bytes(number, stim=np.where(recording.stim == 2, 1, recording.stim))


def _in_volts(number):
    recording = make_session(seed=number, duration_s=60)
    return recording_bytes(number, data=recording.data * 1e-6)


@pytest.mark.parametrize(
    ("name", "make_body", "code"),
    [
        ("broken.parquet", lambda n: b"PAR1 this is not parquet", "NOT_PARQUET"),
        ("no targets.parquet", _no_targets, "NO_TARGETS"),
        ("volts.parquet", _in_volts, "VALUES_LOOK_LIKE_VOLTS"),
        ("deep/er/x.parquet", recording_bytes, "BAD_KEY"),
    ],
)
def test_invalid_upload_is_quarantined_with_its_reason(s3, name, make_body, code):
    body = make_body(3)
    key = f"subject_{subject_id(3)}/{name}"
    upload(s3, key, body)
    result = ingest.ingest_object(s3, key, profiles=studies.StudyProfiles(s3))
    assert (result.outcome, result.needs_processing) == ("quarantined", False)
    assert result.quarantine_key == f"quarantine/{key}"
    moved = s3.get_object(Bucket=RAW_BUCKET, Key=result.quarantine_key)
    assert moved["Body"].read() == body
    reason = json.loads(
        s3.get_object(Bucket=RAW_BUCKET, Key=f"quarantine/{key}.reason.json")["Body"].read()
    )
    assert reason["code"] == code
    assert (reason["landing_key"], reason["sha256"]) == (key, sha256_hex(body))
    assert code in [problem["code"] for problem in reason["problems"]]
    assert reason["quarantined_at"].startswith("20")
    assert not landing_exists(s3, key)


def test_a_file_over_the_size_limit_is_copied_to_quarantine_unread(s3):
    body = recording_bytes(3)
    key = f"subject_{subject_id(3)}/big.parquet"
    upload(s3, key, body)
    result = ingest.ingest_object(
        s3, key, profiles=studies.StudyProfiles(s3), max_bytes=len(body) - 1
    )
    assert result.outcome == "quarantined"
    assert [p["code"] for p in result.problems] == ["FILE_TOO_LARGE"]
    moved = s3.get_object(Bucket=RAW_BUCKET, Key=result.quarantine_key)
    assert moved["Body"].read() == body
    assert moved["Metadata"]["sha256"] == result.sha256 == sha256_hex(body)
    assert not landing_exists(s3, key)


def test_a_vanished_landing_object_is_reported_missing(s3):
    result = ingest.ingest_object(
        s3, f"subject_{subject_id(3)}/never.parquet", profiles=studies.StudyProfiles(s3)
    )
    assert result.outcome == "missing" and not result.needs_processing


def test_preprocess_writes_features_and_an_mlflow_run_then_skips(
    s3, tracker, quality, mlflow_client
):
    ingested, processed = ingest_and_process(s3, tracker, quality, 4)
    assert processed.outcome == "processed"
    assert (
        processed.features_key == f"study={SA}/subject={subject_id(4)}/session=01/features.parquet"
    )
    head = head_object(s3, FEATURES_BUCKET, processed.features_key)
    assert head.version_id == processed.features_version_id
    assert head.metadata["raw-sha256"] == ingested.sha256
    assert head.metadata["raw-version-id"] == ingested.raw_version_id
    assert head.metadata["params-hash"] == PARAMS.hash()
    assert (head.metadata["study"], head.metadata["study-version"]) == (SA, "1")
    assert head.metadata["mlflow-run-id"] == processed.mlflow_run_id
    run = mlflow_client.get_run(processed.mlflow_run_id)
    assert run.info.status == "FINISHED"
    assert mlflow_client.get_experiment(run.info.experiment_id).name == PREPROCESSING_EXPERIMENT
    assert run.data.tags["subject"] == subject_id(4)
    assert (run.data.tags["p300.study"], run.data.tags["p300.study_version"]) == (SA, "1")
    assert run.data.tags["raw_sha256"] == ingested.sha256
    assert run.data.params["params_hash"] == PARAMS.hash()
    summary = processed.summary
    assert run.data.metrics["n_kept"] == summary["n_kept"] > 0
    assert summary["n_kept"] + summary["n_rejected"] == summary["n_flashes"]
    assert {"read_s", "preprocess_s", "write_s"} <= set(run.data.metrics)
    request = parse_event(processing.PreprocessRequest, ingested.model_dump(mode="json"))
    again = preprocess(s3, tracker, request, quality)
    assert (again.outcome, again.features_version_id) == ("skipped", processed.features_version_id)
    assert again.mlflow_run_id == processed.mlflow_run_id


def test_catch_up_lists_what_is_left_and_nothing_done(s3, tracker, quality):
    _, processed = ingest_and_process(s3, tracker, quality, 5)
    left_key = f"subject_{subject_id(6)}/left behind.parquet"
    upload(s3, left_key, recording_bytes(6))
    unprocessed_key = f"subject_{subject_id(7)}/x.parquet"
    upload(s3, unprocessed_key, recording_bytes(7))
    unprocessed = ingest.ingest_object(s3, unprocessed_key, profiles=studies.StudyProfiles(s3))
    plan = planning.plan_catch_up(s3, profiles=studies.StudyProfiles(s3)).model_dump()
    assert plan["mode"] == "catch_up"
    [left] = [item for item in plan["items"] if item.get("key") == left_key]
    assert left["study_versions"][SA] == 1
    raw_items = {item["raw_key"]: item for item in plan["items"] if "raw_key" in item}
    assert raw_items[unprocessed.raw_key]["raw_version_id"] == unprocessed.raw_version_id
    assert raw_items[unprocessed.raw_key]["study"] == SA
    assert f"study={SA}/subject={subject_id(5)}/session=01/eeg.parquet" not in raw_items
    assert processed.outcome == "processed"


def test_a_study_update_makes_only_that_studys_features_stale(s3, tracker, quality):
    study = f"{PREFIX}-a"
    studies.create_study(s3, new_study(study, rejection="fixed", reject_peak_to_peak_uv=100.0))
    key = f"study_{study}/subject_{subject_id(9)}/session_01/x.parquet"
    upload(s3, key, recording_bytes(9))
    ingested = ingest.ingest_object(s3, key, profiles=studies.StudyProfiles(s3))
    assert (ingested.study, ingested.study_version) == (study, 1)
    assert ingested.raw_key == f"study={study}/subject={subject_id(9)}/session=01/eeg.parquet"
    request = parse_event(processing.PreprocessRequest, ingested.model_dump(mode="json"))
    preprocess(s3, tracker, request, quality)
    _, system_a = ingest_and_process(s3, tracker, quality, 10)

    def raw_items() -> dict[str, dict]:
        plan = planning.plan_catch_up(s3, profiles=studies.StudyProfiles(s3)).model_dump()
        return {item["raw_key"]: item for item in plan["items"] if "raw_key" in item}

    assert ingested.raw_key not in raw_items()
    updated = studies.new_profile_version(s3, study, h_freq=25.0)
    stale = raw_items()
    assert stale[ingested.raw_key]["study_version"] == updated.version == 2
    assert f"study={SA}/subject={subject_id(10)}/session=01/eeg.parquet" not in stale
    assert system_a.outcome == "processed"


@pytest.fixture(scope="module")
def trained_subjects(s3, tracker, quality):
    for number in (11, 12, 13, 14):
        ingest_and_process(s3, tracker, quality, number)
    return [subject_id(number) for number in (11, 12, 13, 14)]


def test_training_logs_a_run_and_registers_the_challenger(
    s3, tracker, mlflow_client, trained_subjects
):
    request = parse_event(
        training.TrainRequest,
        {"training_subjects_percentage": 50, "auto_set_challenger_alias": True, "seed": 3},
    )
    out = training.train_and_register(s3, tracker, request).model_dump(mode="json")
    assert set(trained_subjects) <= set(out["training_subjects"]) | set(out["test_subjects"])
    assert not set(out["training_subjects"]) & set(out["test_subjects"])
    assert 0.0 <= out["metrics"]["roc_auc"] <= 1.0
    version = mlflow_client.get_model_version_by_alias(REGISTERED_MODEL, CHALLENGER_ALIAS)
    assert (version.version, version.run_id) == (out["model_version"], out["run_id"])
    assert version.tags["p300.study"] == out["study"] == SA
    run = mlflow_client.get_run(out["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.tags["dataset_manifest_sha256"] == out["dataset_manifest_sha256"]
    assert run.data.metrics["test_roc_auc"] == pytest.approx(out["metrics"]["roc_auc"])
    artifacts = {a.path for a in mlflow_client.list_artifacts(out["run_id"])}
    artifacts |= {a.path for a in mlflow_client.list_artifacts(out["run_id"], "plots")}
    assert {
        "dataset_manifest.json", "training_subjects.json", "feature_schema.json",
        "plots/roc.png", "plots/subject_auc.png", "plots/erp.png",
    } <= artifacts  # fmt: skip
    manifest_path = mlflow_client.download_artifacts(out["run_id"], "dataset_manifest.json")
    manifest_bytes = Path(manifest_path).read_bytes()
    assert sha256_hex(manifest_bytes) == out["dataset_manifest_sha256"]
    assert json.loads(manifest_bytes)["study"] == SA
    manifest_keys = {o["key"] for o in json.loads(manifest_bytes)["objects"]}
    assert {
        f"study={SA}/subject={s}/session=01/features.parquet" for s in trained_subjects
    } <= manifest_keys
    stored = list_keys(s3, MLFLOW_ARTIFACTS_BUCKET)
    assert any(key.endswith(f"{out['run_id']}/artifacts/dataset_manifest.json") for key in stored)
    assert any(key.endswith("/artifacts/MLmodel") for key in stored)


def _version_count(mlflow_client) -> int:
    return len(mlflow_client.search_model_versions(f"name='{REGISTERED_MODEL}'"))


def test_training_with_mlflow_down_retries_then_fails_and_registers_nothing(
    s3, mlflow_client, trained_subjects, caplog
):
    before = _version_count(mlflow_client)
    dead = MlflowTracker(f"http://127.0.0.1:{free_port()}", policy=RetryPolicy(3, 0.05))
    request = parse_event(training.TrainRequest, {"subjects": trained_subjects[:2]})
    with (
        caplog.at_level(logging.WARNING, logger="p300_aws.mlflow_tracking"),
        pytest.raises(MlflowUnavailableError, match="failed 3 times"),
    ):
        training.train_and_register(s3, dead, request)
    assert sum("retrying in" in r.getMessage() for r in caplog.records) == 2
    assert _version_count(mlflow_client) == before


def test_preprocess_with_mlflow_down_writes_no_features(s3, quality):
    key = f"subject_{subject_id(8)}/x.parquet"
    upload(s3, key, recording_bytes(8))
    ingested = ingest.ingest_object(s3, key, profiles=studies.StudyProfiles(s3))
    dead = MlflowTracker(f"http://127.0.0.1:{free_port()}", policy=RetryPolicy(2, 0.05))
    request = parse_event(processing.PreprocessRequest, ingested.model_dump(mode="json"))
    with pytest.raises(MlflowUnavailableError, match="start a run"):
        preprocess(s3, dead, request, quality)
    with pytest.raises(MissingObjectError):
        head_object(
            s3, FEATURES_BUCKET, f"study={SA}/subject={subject_id(8)}/session=01/features.parquet"
        )


def test_a_failed_training_marks_its_run_failed(s3, tracker, mlflow_client, trained_subjects):
    # Every subject preprocessed like these ones in training leaves none to evaluate on.
    alike, _ = training.select_compatible(
        training.read_latest_features(s3, SA), subjects=tuple(trained_subjects)
    )
    request = parse_event(training.TrainRequest, {"subjects": sorted({o.subject for o in alike})})
    before = _version_count(mlflow_client)
    with pytest.raises(ValueError, match="at least one subject on each side"):
        training.train_and_register(s3, tracker, request)
    runs = mlflow_client.search_runs(
        [mlflow_client.get_experiment_by_name(training.TRAINING_EXPERIMENT).experiment_id],
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    assert runs[0].info.status == "FAILED"
    assert _version_count(mlflow_client) == before


@pytest.fixture
def private_mlflow(cloud, tmp_path):
    """An MLflow server of this test's own (same artifact bucket), so it can be stopped."""

    def start():
        server = mlflow_server.start_mlflow(
            tmp_path,
            port=free_port(),
            backend_store_uri=mlflow_server.sqlite_store_uri(tmp_path),
            localstack_port=cloud.localstack_port,
        )
        started.append(server)
        return mlflow_server.wait_for_mlflow(server)

    started = []
    yield start
    for server in started:
        stop_server(server, timeout=10)


class LosesMlflowOnceTheRunStarts(MlflowTracker):
    """A real tracker whose server is stopped right after the training's run is created: the
    fault arrives at a known step, while the training goes on (reading, fitting, logging)."""

    def __init__(self, uri: str, *, server, policy: RetryPolicy):
        super().__init__(uri, policy=policy)
        self.server, self.run_ids = server, []

    def start_run(self, experiment: str, *, run_name: str, tags) -> str:
        run_id = super().start_run(experiment, run_name=run_name, tags=tags)
        self.run_ids.append(run_id)
        assert stop_server(self.server, timeout=10), "the private MLflow was not running"
        return run_id


def test_mlflow_lost_mid_training_fails_cleanly_and_registers_nothing(
    s3, trained_subjects, private_mlflow
):
    server = private_mlflow()
    uri = mlflow_server.tracking_uri(server.port)
    flaky = LosesMlflowOnceTheRunStarts(uri, server=server,
                                        policy=RetryPolicy(attempts=2, backoff_s=0.1))  # fmt: skip
    request = parse_event(
        training.TrainRequest, {"subjects": trained_subjects[:2], "auto_set_challenger_alias": True}
    )
    with pytest.raises(
        MlflowUnavailableError, match="MLflow unavailable: log params and metrics failed"
    ):
        training.train_and_register(s3, flaky, request)

    (run_id,) = flaky.run_ids
    restarted_uri = mlflow_server.tracking_uri(private_mlflow().port)
    restarted = MlflowClient(restarted_uri, registry_uri=restarted_uri)
    assert restarted.search_model_versions(f"name='{REGISTERED_MODEL}'") == []
    (run,) = restarted.search_runs(_experiment_ids(restarted))
    # The server was gone when the training failed, so its run could not be marked FAILED:
    assert (run.info.run_id, run.info.status) == (run_id, "RUNNING")
    # the next training fails it once it outlived the Lambda's timeout (here 0).
    reaped = MlflowTracker(restarted_uri).fail_abandoned_runs(
        training.TRAINING_EXPERIMENT, older_than_s=0
    )
    assert reaped == [run_id]
    assert restarted.get_run(run_id).info.status == "FAILED"


def _experiment_ids(client) -> list[str]:
    found = client.get_experiment_by_name(training.TRAINING_EXPERIMENT)
    return [found.experiment_id] if found else []
