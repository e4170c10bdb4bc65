"""Each pipeline handler's success path on a recorded event, in process, against the real local
cloud (LocalStack S3, MLflow) and real Parquet: ingest → preprocess → check-drift, a catch-up
plan and a training. The recorded events name subject ``07``; each test swaps in this run's
subject ids, so a shared cloud's other data cannot interfere."""

import json
import uuid

import pytest

from p300_aws.names import ALERTS_TOPIC, FEATURES_BUCKET, LANDING_BUCKET, RAW_BUCKET
from p300_aws.s3_objects import sha256_hex
from p300_ops.localcloud.localstack import CREDENTIALS
from tests.fixtures import load_event, load_handler
from tests.integration.pipeline.test_pipeline_logic import recording_bytes
from tests.integration.pipeline.test_pipeline_logic import s3 as s3  # landing rules disabled

pytestmark = [pytest.mark.cloud, pytest.mark.timeout(600)]

RECORDED_SUBJECT = "07"
SUBJECTS = [f"h{uuid.uuid4().hex[:6]}-{n}" for n in (1, 2)]


def recorded(name: str, subject: str, **changes) -> dict:
    """The recorded event ``name`` about ``subject`` instead of subject 07."""
    text = json.dumps(load_event(name)).replace(f"_{RECORDED_SUBJECT}/", f"_{subject}/")
    text = text.replace(f"={RECORDED_SUBJECT}/", f"={subject}/")
    text = text.replace(f'"{RECORDED_SUBJECT}"', f'"{subject}"')
    return json.loads(text) | changes


@pytest.fixture(scope="module")
def handlers(cloud, s3):
    """The handlers imported as the Lambda runtime would, with the cloud's environment."""
    with pytest.MonkeyPatch.context() as env:
        for name, value in CREDENTIALS.items():
            env.setenv(name, value)
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        env.setenv("AWS_ENDPOINT_URL", cloud.endpoint_url)
        env.setenv("MLFLOW_TRACKING_URI", cloud.tracking_uri)
        env.setenv("ALERTS_TOPIC_ARN", f"arn:aws:sns:us-east-1:000000000000:{ALERTS_TOPIC}")
        names = ("plan_ingest", "ingest", "preprocess", "check_drift", "train")
        yield {name: load_handler(name) for name in names}


@pytest.fixture(scope="module")
def processed(s3, handlers) -> list[dict]:
    """Each subject uploaded, ingested, preprocessed and drift-checked through the handlers."""
    outputs = []
    for number, subject in enumerate(SUBJECTS, start=31):
        ingest_event = recorded("ingest", subject)
        body = recording_bytes(number)
        s3.put_object(Bucket=LANDING_BUCKET, Key=ingest_event["key"], Body=body)
        ingested = handlers["ingest"].lambda_handler(ingest_event, None)
        assert ingested["sha256"] == sha256_hex(body)
        event = recorded(
            "preprocess", subject, sha256=ingested["sha256"],
            raw_version_id=ingested["raw_version_id"],
        )  # fmt: skip
        features = handlers["preprocess"].lambda_handler(event, None)
        checked = handlers["check_drift"].lambda_handler(features, None)
        outputs.append({"ingested": ingested, "features": features, "checked": checked})
    return outputs


def test_ingest_moves_the_recorded_landing_object_to_the_raw_bucket(s3, processed):
    ingested = processed[0]["ingested"]
    assert ingested["outcome"] == "ingested" and ingested["needs_processing"] is True
    assert (ingested["subject"], ingested["session"]) == (SUBJECTS[0], "02")
    assert ingested["raw_key"] == f"study=system-a/subject={SUBJECTS[0]}/session=02/eeg.parquet"
    stored = s3.head_object(Bucket=RAW_BUCKET, Key=ingested["raw_key"])
    assert stored["VersionId"] == ingested["raw_version_id"]
    assert (
        s3.list_objects_v2(Bucket=LANDING_BUCKET, Prefix=f"subject_{SUBJECTS[0]}/")["KeyCount"] == 0
    )


def test_preprocess_writes_the_features_of_the_recorded_ingest_output(s3, processed):
    features = processed[0]["features"]
    assert features["outcome"] == "processed"
    assert (
        features["features_key"]
        == f"study=system-a/subject={SUBJECTS[0]}/session=02/features.parquet"
    )
    assert features["summary"]["n_kept"] > 0 and features["mlflow_run_id"]
    head = s3.head_object(Bucket=FEATURES_BUCKET, Key=features["features_key"])
    assert head["VersionId"] == features["features_version_id"]


def test_check_drift_adds_its_verdict_to_the_preprocess_output(processed):
    features, checked = processed[0]["features"], processed[0]["checked"]
    assert {k: v for k, v in checked.items() if k != "drift"} == features
    # Which model (if any) is champion depends on the modules run before: each status is a
    # success of the check; its fields are the model's.
    assert checked["drift"]["status"] in ("checked", "no reference", "incompatible")
    assert checked["drift"].get("reason") or "drifted" in checked["drift"]


def test_a_catch_up_plan_lists_raw_objects_needing_work_and_not_ours(handlers, processed):
    plan = handlers["plan_ingest"].lambda_handler(load_event("catch_up"), None)
    assert plan["mode"] == "catch_up"
    ours = {f"study=system-a/subject={s}/session=02/eeg.parquet" for s in SUBJECTS}
    assert not ours & {item.get("raw_key") for item in plan["items"]}  # features are current


def test_train_registers_a_model_from_the_recorded_request(handlers, processed):
    output = handlers["train"].lambda_handler(recorded("train", SUBJECTS[0]), None)
    assert output["training_subjects"] == [SUBJECTS[0]]
    assert SUBJECTS[1] in output["test_subjects"]
    assert output["alias"] is None and int(output["model_version"]) >= 1
    assert 0.0 <= output["metrics"]["roc_auc"] <= 1.0
