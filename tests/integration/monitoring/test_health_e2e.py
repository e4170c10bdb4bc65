"""The health probe on the local cloud: a broken release raises the alarm and one alert, the
repair a "recovered" alert.

The champion alias gets a real model; the outage is one story told in order in one test: a
release whose handler cannot be imported (a real broken deploy), then the good version again,
then the alerts as `p300 alerts` prints them. Each test sets the champion it starts from, so the
module passes in any order.
The probe also runs by itself every minute, so alerts are looked for by alias and change, not
by which invocation raised them.
"""

import json
import os
import subprocess
import time
from datetime import UTC, datetime, timedelta

import pytest
from botocore.config import Config
from threadpoolctl import threadpool_limits

from p300.models import make_model
from p300_aws.alerts import list_alerts
from p300_aws.names import (
    ALERTS_TOPIC,
    CHAMPION_ALIAS,
    HEALTH_ALARM,
    HEALTH_METRIC,
    HEALTH_PROBE_FUNCTION,
    METRIC_NAMESPACE,
    PREDICT_FUNCTION,
)
from p300_ops import paths
from p300_ops.localcloud import localstack
from p300_ops.services import release
from tests.registered_models import register_as_training_does
from tests.synthetic_features import two_session_features

pytestmark = [pytest.mark.cloud, pytest.mark.slow, pytest.mark.timeout(1500)]

#: Measured: ALARM 51 s after the first failing probe, OK 240 s after the repair.
ALARM_WAIT_S = 420


@pytest.fixture(scope="module")
def aws(cloud):
    port = cloud.localstack_port
    slow_reads = Config(read_timeout=120, retries={"max_attempts": 1})
    names = ("s3", "sns", "sqs", "cloudwatch", "apigateway")
    clients = {name: localstack.aws_client(name, port) for name in names}
    clients["lambda"] = localstack.aws_client("lambda", port, config=slow_reads)
    return clients


@pytest.fixture(scope="module")
def alert_queue(aws):
    """An SQS queue subscribed to the alerts topic, as a user's alert inbox would be."""
    topic_arn = aws["sns"].create_topic(Name=ALERTS_TOPIC)["TopicArn"]  # idempotent: the stack's
    queue_url = aws["sqs"].create_queue(QueueName="health-e2e-alerts")["QueueUrl"]
    queue_arn = aws["sqs"].get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    aws["sns"].subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return queue_url


@pytest.fixture(scope="module")
def good_version(cloud, aws):
    """A registered model deployed to champion; its Lambda version."""
    x, y, schema = two_session_features()
    with threadpool_limits(1):
        model = make_model("lda", shrinkage=0.5).fit(x, y)
    version = register_as_training_does(cloud.tracking_uri, "health-e2e", model, schema)
    deployment = release.deploy_model(
        aws["lambda"], aws["apigateway"], cloud.tracking_uri, CHAMPION_ALIAS, model_version=version
    )
    return deployment.lambda_version


def run_probe(aws) -> dict:
    response = aws["lambda"].invoke(FunctionName=HEALTH_PROBE_FUNCTION)
    report = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, report
    return report


def by_alias(report: dict) -> dict:
    return {alias["alias"]: alias for alias in report["aliases"]}


def point_champion(aws, version: str) -> None:
    aws["lambda"].update_alias(
        FunctionName=PREDICT_FUNCTION, Name=CHAMPION_ALIAS, FunctionVersion=version,
        RoutingConfig={"AdditionalVersionWeights": {}},
    )  # fmt: skip


def broken_version(aws) -> str:
    """A published version of the predict function whose handler module does not exist."""
    lam = aws["lambda"]
    config = lam.get_function_configuration(FunctionName=PREDICT_FUNCTION)
    lam.update_function_configuration(FunctionName=PREDICT_FUNCTION, Handler="missing.handler")
    lam.get_waiter("function_updated_v2").wait(FunctionName=PREDICT_FUNCTION)
    try:
        return lam.publish_version(FunctionName=PREDICT_FUNCTION, Description="broken")["Version"]
    finally:
        lam.update_function_configuration(FunctionName=PREDICT_FUNCTION, Handler=config["Handler"])
        lam.get_waiter("function_updated_v2").wait(FunctionName=PREDICT_FUNCTION)


def wait_for_alarm(aws, state: str) -> float:
    """Seconds until the health alarm is in ``state`` (fails after `ALARM_WAIT_S`)."""
    started = time.monotonic()
    while time.monotonic() - started < ALARM_WAIT_S:
        alarm = aws["cloudwatch"].describe_alarms(AlarmNames=[HEALTH_ALARM])["MetricAlarms"][0]
        if alarm["StateValue"] == state:
            return time.monotonic() - started
        time.sleep(2)
    pytest.fail(f"{HEALTH_ALARM} not {state} after {ALARM_WAIT_S} s: {alarm['StateReason']}")


def health_alerts(aws, alias: str, change: str, *, since: str) -> list:
    return [
        alert
        for alert in list_alerts(aws["s3"], kind="health")
        if alert.evidence["alias"] == alias
        and alert.evidence["change"] == change
        and alert.raised_at >= since
    ]


def queued_subjects(aws, queue_url: str, *, wanted: str, wait_s: float = 60) -> list[str]:
    """Subjects of the SNS messages on the queue, read until one contains ``wanted``."""
    subjects, started = [], time.monotonic()
    while time.monotonic() - started < wait_s and not any(wanted in s for s in subjects):
        messages = (
            aws["sqs"]
            .receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=2)
            .get("Messages", [])
        )
        subjects += [json.loads(message["Body"]).get("Subject", "") for message in messages]
    return subjects


def latest_champion_minimum(aws) -> float:
    now = datetime.now(UTC)
    result = aws["cloudwatch"].get_metric_data(
        MetricDataQueries=[
            {
                "Id": "champion",
                "MetricStat": {
                    "Metric": {
                        "Namespace": METRIC_NAMESPACE,
                        "MetricName": HEALTH_METRIC,
                        "Dimensions": [{"Name": "Alias", "Value": CHAMPION_ALIAS}],
                    },
                    "Period": 60,
                    "Stat": "Minimum",
                },
            }
        ],
        StartTime=now - timedelta(minutes=10),
        EndTime=now + timedelta(minutes=1),
        ScanBy="TimestampDescending",
    )
    return result["MetricDataResults"][0]["Values"][0]


def test_a_deployed_champion_is_healthy(aws, good_version):
    point_champion(aws, good_version)  # whatever an earlier test left
    champion = by_alias(run_probe(aws))[CHAMPION_ALIAS]
    assert champion["state"] == "ok", champion
    assert champion["status_code"] == 200
    assert champion["model_version"]


def test_a_broken_release_alerts_and_its_repair_recovers(cloud, aws, good_version, alert_queue):
    point_champion(aws, good_version)
    assert by_alias(run_probe(aws))[CHAMPION_ALIAS]["state"] == "ok"  # the outage is a change
    check_a_broken_release_raises_the_alarm_one_alert_and_a_message(aws, alert_queue)
    check_the_repair_raises_a_recovered_alert_and_the_metric_returns_to_0(aws, good_version)
    check_p300_alerts_prints_the_alarm_and_the_alerts(cloud)


def check_a_broken_release_raises_the_alarm_one_alert_and_a_message(aws, alert_queue):
    broke_at = datetime.now(UTC).isoformat()
    point_champion(aws, broken_version(aws))
    report = run_probe(aws)
    champion = by_alias(report)[CHAMPION_ALIAS]
    assert champion["state"] == "failing", champion
    assert report["failing"] >= 1

    seconds = wait_for_alarm(aws, "ALARM")
    print(f"health alarm in ALARM {seconds:.0f} s after the failing probe")

    assert run_probe(aws)["alerts"] == []  # the outage goes on: no second alert
    # (>= 1: a scheduled run racing this test's first one may alert too.)
    alerts = health_alerts(aws, CHAMPION_ALIAS, "failing", since=broke_at)
    assert alerts, list_alerts(aws["s3"], kind="health")
    assert alerts[0].evidence["state"] == "failing"
    subjects = queued_subjects(aws, alert_queue, wanted="champion failing")
    assert any("[p300 health] champion failing" in subject for subject in subjects), subjects


def check_the_repair_raises_a_recovered_alert_and_the_metric_returns_to_0(aws, good_version):
    repaired_at = datetime.now(UTC).isoformat()
    point_champion(aws, good_version)
    report = run_probe(aws)
    assert by_alias(report)[CHAMPION_ALIAS]["state"] == "ok"
    assert health_alerts(aws, CHAMPION_ALIAS, "recovered", since=repaired_at)
    assert run_probe(aws)["alerts"] == []
    assert latest_champion_minimum(aws) == 0
    seconds = wait_for_alarm(aws, "OK")
    print(f"health alarm back to OK {seconds:.0f} s after the repair")


def check_p300_alerts_prints_the_alarm_and_the_alerts(cloud):
    result = subprocess.run(
        [str(paths.PROJECT_BIN / "p300"), "alerts", "--kind", "health", "--home", cloud.home],
        capture_output=True, text=True, timeout=120, env=os.environ | {"COLUMNS": "200"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert HEALTH_ALARM in result.stdout
    assert "champion failing" in result.stdout
    assert "champion recovered" in result.stdout
    as_json = subprocess.run(
        [str(paths.PROJECT_BIN / "p300"), "alerts", "--json", "--home", cloud.home],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    document = json.loads(as_json.stdout)
    assert {alarm["name"] for alarm in document["alarms"]} >= {HEALTH_ALARM}
    assert document["alerts"][0]["kind"] in {"health", "drift"}
