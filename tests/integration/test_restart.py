"""A restart keeps what users and collectors rely on (issue #12), for both ways a cloud stops.

For `p300 down` and for a `kill -9` of LocalStack, one cloud goes through a scenario: subjects
processed, two models trained by the pipeline (the training Lambda logs and registers them in
MLflow), champion and challenger deployed, champion in a 70/30 canary, the upload key rotated, an
alarm set; then an ingest execution is caught mid-way by the stop, and `up` starts everything
again. The tests compare what a client sees after the restart with what it saw before.
"""

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import numpy as np
import pytest

from p300_aws import keys
from p300_aws.alerts import list_alerts
from p300_aws.health_probe import STATE_KEY
from p300_aws.names import (
    API_NAME,
    CHALLENGER_ALIAS,
    CHAMPION_ALIAS,
    DRIFT_ALARM,
    FEATURES_BUCKET,
    INGEST_STATE_MACHINE,
    MONITORING_BUCKET,
    PREDICT_FUNCTION,
    UPLOAD_API_NAME,
)
from p300_ops.localcloud import lifecycle
from p300_ops.localcloud.localstack import aws_client
from p300_ops.localcloud.processes import kill_server
from p300_ops.services import pipeline_executions, release
from p300_ops.services.api_keys import rotate_key
from p300_ops.services.cloud import Cloud, api_url
from p300_ops.services.execution_history import state_runs
from p300_ops.services.synthetic_subjects import generate_subjects, synthetic_object
from p300_ops.services.training_runs import run_training, train_request
from p300_ops.services.upload_api_client import API_KEY_HEADER, UploadClient, api_key
from tests.integration.cloud_helpers import cloud_config, predict_headers
from tests.integration.restart_helpers import WAIT_S, wait_for_ingest_runs

pytestmark = [pytest.mark.cloud, pytest.mark.slow, pytest.mark.timeout(3600)]

STOPS = ("down", "kill -9")
SEED = 7
SUBJECTS = range(1, 5)
#: Long enough that its preprocessing is still running when the cloud stops.
MIDWAY_SUBJECT, MIDWAY_DURATION_S = 9, 1800.0
CALLS, CHALLENGER_SHARE = 200, 0.3
#: Provisioned concurrency of the challenger alias.
WARM_ENVIRONMENTS = 1


@dataclass
class Before:
    """What a client saw just before the stop."""

    urls: dict[str, str]
    old_key: str
    key: str
    traffic: list[dict]
    code_sha256: dict[str, str]
    executions: list[tuple]
    train_execution: str
    train_states: list[tuple]
    alarm: dict
    alarm_history: list[tuple]
    probe_state: dict | None
    alerts: list[tuple]
    midway_arn: str = ""
    stopped_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class Restarted:
    config: lifecycle.CloudConfig
    state: lifecycle.CloudState
    before: Before
    messages: list[str]

    def client(self, service: str):
        return aws_client(service, self.state.localstack_port)


@pytest.fixture(scope="module", params=STOPS)
def restarted(request, tmp_path_factory):
    config = cloud_config(tmp_path_factory.mktemp("restart"))
    state = lifecycle.up(config, progress=lambda _: None)
    try:
        before = _prepare(state)
        before.midway_arn = _stop_midway(request.param, config, state)
        before.stopped_at = datetime.now(UTC)  # the cloud is down now
        messages: list[str] = []
        state = lifecycle.up(config, progress=messages.append)
        yield Restarted(config, state, before, messages)
    finally:
        if lifecycle.CloudState.load(config.home):
            lifecycle.down(config.home)


def _clients(state):
    return {name: aws_client(name, state.localstack_port)
            for name in ("s3", "stepfunctions", "lambda", "apigateway", "cloudwatch")}  # fmt: skip


def _prepare(state) -> Before:
    aws = _clients(state)
    s3, sfn, lam, apigw = aws["s3"], aws["stepfunctions"], aws["lambda"], aws["apigateway"]
    generate_subjects(s3, SUBJECTS, seed=SEED, duration_s=60.0, form="system-a")
    wait_for_ingest_runs(sfn, len(SUBJECTS))
    first = run_training(sfn, train_request(percentage=50)).output["model_version"]
    training = run_training(sfn, train_request(percentage=75, auto_set_challenger_alias=True))
    uri = state.tracking_uri
    champion = release.deploy_model(lam, apigw, uri, CHAMPION_ALIAS, model_version=first)
    challenger = release.deploy_model(
        lam, apigw, uri, CHALLENGER_ALIAS, model_version=training.output["model_version"]
    )
    lam.update_alias(
        FunctionName=PREDICT_FUNCTION, Name=CHAMPION_ALIAS,
        RoutingConfig={"AdditionalVersionWeights": {challenger.lambda_version: CHALLENGER_SHARE}},
    )  # fmt: skip
    lam.put_provisioned_concurrency_config(
        FunctionName=PREDICT_FUNCTION, Qualifier=CHALLENGER_ALIAS,
        ProvisionedConcurrentExecutions=WARM_ENVIRONMENTS,
    )  # fmt: skip
    old_key = api_key(apigw)
    rotate_key(apigw)
    aws["cloudwatch"].set_alarm_state(
        AlarmName=DRIFT_ALARM, StateValue="ALARM", StateReason="set by the restart test"
    )
    executions = pipeline_executions.list_executions(sfn, limit=1000)
    return Before(
        urls={
            name: api_url(apigw, name, endpoint_url=state.endpoint_url)
            for name in (API_NAME, UPLOAD_API_NAME)
        },
        old_key=old_key,
        key=api_key(apigw),
        traffic=release.traffic(lam),
        code_sha256={
            v: _code_sha256(lam, v) for v in (champion.lambda_version, challenger.lambda_version)
        },
        executions=[(e["name"], e["status"], e["startDate"]) for e in executions],
        train_execution=training.name,
        train_states=_states(sfn, training.arn),
        alarm=_alarm(aws["cloudwatch"]),
        alarm_history=_alarm_history(aws["cloudwatch"]),
        probe_state=_probe_state(s3),
        alerts=[(alert.raised_at, alert.subject) for alert in list_alerts(s3, limit=1000)],
    )


def _stop_midway(stop: str, config, state) -> str:
    """Upload a long recording, wait until its preprocessing runs, then stop the cloud; the ARN
    of the execution cut off."""
    aws = _clients(state)
    generate_subjects(aws["s3"], [MIDWAY_SUBJECT], seed=SEED, duration_s=MIDWAY_DURATION_S,
                      form="system-a")  # fmt: skip
    arn = _wait_until_preprocessing(aws["stepfunctions"])
    if stop == "down":
        lifecycle.down(config.home)
    else:
        kill_server(state.servers["localstack"])
    return arn


def test_the_api_urls_stay_the_same_and_answer(restarted):
    apigw = restarted.client("apigateway")
    for name, url in restarted.before.urls.items():
        assert api_url(apigw, name, endpoint_url=restarted.state.endpoint_url) == url
    model = httpx.get(f"{restarted.before.urls[API_NAME]}/predict-challenger/model", timeout=60,
                      headers=predict_headers(restarted.state))  # fmt: skip
    assert model.status_code == 200, model.text
    assert any("REST API p300-api kept its id" in m for m in restarted.messages)


def test_a_collector_keeps_its_key_and_a_rotated_key_stays_refused(restarted, tmp_path):
    url = restarted.before.urls[UPLOAD_API_NAME]
    assert api_key(restarted.client("apigateway")) == restarted.before.key
    # The CLI's upload token is a record in the durable tokens bucket: it outlives the restart.
    token = Cloud(restarted.state).api_token("upload")
    old = {API_KEY_HEADER: restarted.before.old_key, "Authorization": f"Bearer {token}"}
    refused = httpx.post(f"{url}/uploads", json={"subject": "01", "session": "01"}, headers=old)
    assert refused.status_code == 403
    _, body = synthetic_object(21, seed=SEED, duration_s=30.0, form="system-a")
    answer = UploadClient(url, restarted.before.key, token=token).request(
        "/uploads", {"subject": "21", "session": "01", "file_name": "collector.parquet",
                     "size": len(body)},
    )  # fmt: skip
    put = httpx.put(answer["url"], content=body, timeout=60)
    assert put.status_code == 200, put.text


def test_champion_and_challenger_serve_the_same_versions_with_the_same_split(restarted):
    lam = restarted.client("lambda")
    assert release.traffic(lam) == restarted.before.traffic
    for version, sha in restarted.before.code_sha256.items():
        assert _code_sha256(lam, version) == sha  # the very bytes published, model and all
    champion, challenger = (row["versions"] for row in restarted.before.traffic)
    base = restarted.before.urls[API_NAME]
    headers = predict_headers(restarted.state)
    body = {"features": _features(base, headers).tolist()}
    with httpx.Client(timeout=60, headers=headers) as http:
        served = Counter(
            http.post(f"{base}/predict-champion/predict", json=body).json()["model"]["version"]
            for _ in range(CALLS)
        )
        challenger_answer = http.post(f"{base}/predict-challenger/predict", json=body)
    champion_model, canary_model = (str(v["model_version"]) for v in champion)
    assert set(served) == {champion_model, canary_model}
    # 3 binomial standard deviations (6.5 calls each) around 60 of 200.
    assert 40 <= served[canary_model] <= 80, served
    assert challenger_answer.json()["model"]["version"] == str(challenger[0]["model_version"])
    assert any("a canary mid-way stays mid-way" in m for m in restarted.messages)
    warm = _warm_environments(lam)
    assert warm["RequestedProvisionedConcurrentExecutions"] == WARM_ENVIRONMENTS
    assert warm["Status"] == "READY", warm
    assert any(f"provisioned concurrency {WARM_ENVIRONMENTS} re-applied" in m
               for m in restarted.messages)  # fmt: skip


def test_the_executions_and_their_states_are_back(restarted):
    sfn = restarted.client("stepfunctions")
    now = {(e["name"], e["startDate"]): e["status"]
           for e in pipeline_executions.list_executions(sfn, limit=1000)}  # fmt: skip
    for name, status, started in restarted.before.executions:
        assert now[(name, started)] == status
    arn = pipeline_executions.execution_arn(sfn, restarted.before.train_execution)
    assert _states(sfn, arn) == restarted.before.train_states
    described = pipeline_executions.describe(sfn, arn)
    assert described["status"] == "SUCCEEDED" and described["output"]["model_version"]


def test_an_execution_cut_off_is_aborted_and_the_catch_up_run_processes_its_subject(restarted):
    sfn, s3 = restarted.client("stepfunctions"), restarted.client("s3")
    described = pipeline_executions.describe(sfn, restarted.before.midway_arn)
    assert described["status"] == "ABORTED"
    assert described["error"] == "P300.CloudStopped"
    assert "while this execution ran" in described["cause"]
    (line,) = [m for m in restarted.messages if "started the catch-up run" in m]
    catch_up = line.split("catch-up run ", 1)[1].split(":", 1)[0]
    finished = pipeline_executions.wait_for(
        sfn, pipeline_executions.execution_arn(sfn, catch_up), timeout=WAIT_S
    )
    assert finished["status"] == "SUCCEEDED"
    midway = keys.SubjectSession(keys.DEFAULT_STUDY, f"{MIDWAY_SUBJECT:02d}", keys.DEFAULT_SESSION)
    features = keys.features_key(midway)
    assert s3.head_object(Bucket=FEATURES_BUCKET, Key=features)["ContentLength"] > 0
    landing = s3.list_objects_v2(
        Bucket="p300-landing-zone", Prefix=f"subject_{MIDWAY_SUBJECT:02d}/"
    )
    assert landing.get("KeyCount", 0) == 0  # ingested: nothing left half-done


def test_alarm_states_alerts_and_the_probe_state_survive(restarted):
    cloudwatch, s3 = restarted.client("cloudwatch"), restarted.client("s3")
    before = restarted.before
    history = _alarm_history(cloudwatch)
    assert set(before.alarm_history) <= set(history)
    assert any("set by the restart test" in item[1] for item in history)
    # `up` names the state recorded at the stop: the one seen before the stop was prepared, or
    # one the alarm moved to by the stop (the cut-off subject's drift check publishes metrics).
    held = {before.alarm["StateValue"]} | {
        _new_state(data) for timestamp, data in history if timestamp <= before.stopped_at
    }
    marker = f"alarm {DRIFT_ALARM} is "
    said = [m.split(marker, 1)[1].split(" ", 1)[0] for m in restarted.messages if marker in m]
    assert len(said) == 1 and said[0] in held, (restarted.messages, held)
    if _alarm(cloudwatch)["StateValue"] != said[0]:
        # only an evaluation since the restart may have moved it
        assert max(item[0] for item in history) > before.stopped_at
    assert set(before.alerts) <= {(a.raised_at, a.subject) for a in list_alerts(s3, limit=1000)}
    if before.probe_state is not None:
        assert _probe_state(s3)["LastModified"] >= before.probe_state["LastModified"]


def _wait_until_preprocessing(sfn) -> str:
    """The ARN of the ingest run that has entered Preprocess and not left it."""
    arn = pipeline_executions.state_machine_arn(sfn, INGEST_STATE_MACHINE)
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        for run in sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]:
            names = [(e["type"], (e.get("stateEnteredEventDetails") or
                                  e.get("stateExitedEventDetails") or {}).get("name"))
                     for e in pipeline_executions.history(sfn, run["executionArn"])]  # fmt: skip
            if ("TaskStateEntered", "Preprocess") in names and (
                "TaskStateExited", "Preprocess") not in names:  # fmt: skip
                return run["executionArn"]
        time.sleep(0.2)
    raise AssertionError(f"no preprocessing started within {WAIT_S:.0f} s")


def _states(sfn, arn: str) -> list[tuple]:
    return [(run.name, run.kind, run.iteration, run.status, run.error)
            for run in state_runs(pipeline_executions.history(sfn, arn))]  # fmt: skip


def _warm_environments(lam, timeout: float = 120.0) -> dict:
    """The challenger's provisioned concurrency config, once READY (or when `timeout` s pass)."""
    deadline = time.monotonic() + timeout
    while True:
        found = lam.get_provisioned_concurrency_config(
            FunctionName=PREDICT_FUNCTION, Qualifier=CHALLENGER_ALIAS
        )
        if found["Status"] == "READY" or time.monotonic() > deadline:
            return found
        time.sleep(1.0)


def _code_sha256(lam, version: str) -> str:
    found = lam.get_function(FunctionName=PREDICT_FUNCTION, Qualifier=version)
    return found["Configuration"]["CodeSha256"]


def _features(base_url: str, headers: dict) -> np.ndarray:
    model = httpx.get(f"{base_url}/predict-champion/model", timeout=60, headers=headers)
    schema = model.json()["features_schema"]
    return np.random.default_rng(0).normal(0.0, 5.0, (2, int(schema["n_features"])))


def _new_state(history_data: str) -> str | None:
    """The state a history item moved the alarm to (its JSON ``newState``)."""
    try:
        return json.loads(history_data)["newState"]["stateValue"]
    except (ValueError, KeyError, TypeError):
        return None


def _alarm(cloudwatch) -> dict:
    (alarm,) = cloudwatch.describe_alarms(AlarmNames=[DRIFT_ALARM])["MetricAlarms"]
    return {key: alarm.get(key) for key in ("StateValue", "StateReason", "StateUpdatedTimestamp")}


def _alarm_history(cloudwatch) -> list[tuple]:
    items = cloudwatch.describe_alarm_history(AlarmName=DRIFT_ALARM)["AlarmHistoryItems"]
    return [(item["Timestamp"], item["HistoryData"]) for item in items]


def _probe_state(s3) -> dict | None:
    try:
        return s3.head_object(Bucket=MONITORING_BUCKET, Key=STATE_KEY)
    except s3.exceptions.ClientError:
        return None
