"""Lambda metrics and logs delivered off the request path (patch ``batched_lambda_telemetry``).

AWS publishes ``Invocations``, ``Errors`` and ``Duration`` per function and per alias; LocalStack
publishes the first two per function only, one HTTP call per invocation. The patch batches them
(and the logs) on a background thread; a CloudWatch outage delays them but loses nothing.
"""

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from p300_ops.localcloud.processes import stop_server
from tests.integration.localstack.conftest import client, create_function, function_zip, launch

pytestmark = [pytest.mark.cloud, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def unpatched(tmp_path_factory):
    server = launch(
        tmp_path_factory.mktemp("unpatched"), {"P300_DISABLED_PATCHES": "batched_lambda_telemetry"}
    )
    yield server
    stop_server(server)


def failing_alias(lambda_client, name: str) -> None:
    """Function `name` whose handler always raises, version 1 and alias 'live' on it."""
    create_function(lambda_client, name, code=function_zip("basic"), handler="index.fail")
    lambda_client.publish_version(FunctionName=name)
    lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")


def invoke_failing(lambda_client, qualified_name: str) -> dict:
    answer = lambda_client.invoke(FunctionName=qualified_name, Payload=json.dumps({"value": 7}))
    return {**answer, "Payload": json.loads(answer["Payload"].read())}


def statistics(cloudwatch, metric: str, dimensions: dict[str, str]) -> dict:
    """SampleCount and Sum of an AWS/Lambda metric over the last 10 minutes ({} when none)."""
    now = datetime.now(UTC)
    points = cloudwatch.get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName=metric,
        Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
        StartTime=now - timedelta(minutes=10),
        EndTime=now + timedelta(minutes=1),
        Period=600,
        Statistics=["SampleCount", "Sum"],
    )["Datapoints"]
    if not points:
        return {}
    return {s: sum(p[s] for p in points) for s in ("SampleCount", "Sum")}


def logged_invocations(logs, function: str) -> int:
    """END lines in the function's log group (0 while the group does not exist)."""
    try:
        events = logs.filter_log_events(logGroupName=f"/aws/lambda/{function}")["events"]
    except logs.exceptions.ResourceNotFoundException:
        return 0
    return sum(e["message"].startswith("END RequestId") for e in events)


def wait_for(condition, *, timeout_s: float):
    """The first truthy result of `condition()` polled every 0.2 s, or its last result."""
    deadline = time.monotonic() + timeout_s
    while not (result := condition()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return result


@pytest.mark.parametrize(("instance", "fixed"), [("unpatched", False), ("localstack", True)])
def test_invocation_metrics_per_alias_and_logs_arrive(request, instance, fixed):
    server = request.getfixturevalue(instance)
    lambda_client, cloudwatch = client(server, "lambda"), client(server, "cloudwatch")
    logs = client(server, "logs")
    failing_alias(lambda_client, "metered")
    alias = {"FunctionName": "metered", "Resource": "metered:live"}

    for _ in range(3):
        assert invoke_failing(lambda_client, "metered:live")["FunctionError"] == "Unhandled"
    invoke_failing(lambda_client, "metered")
    by_function = wait_for(
        lambda: statistics(cloudwatch, "Invocations", {"FunctionName": "metered"}).get("Sum") == 4,
        timeout_s=20,
    )
    invocations_logged = wait_for(lambda: logged_invocations(logs, "metered") == 4, timeout_s=20)

    assert by_function
    assert invocations_logged
    if not fixed:  # LocalStack publishes per function only, and no Duration
        assert statistics(cloudwatch, "Errors", alias) == {}
        assert statistics(cloudwatch, "Duration", {"FunctionName": "metered"}) == {}
        return
    assert statistics(cloudwatch, "Errors", alias) == {"SampleCount": 3, "Sum": 3}
    assert statistics(cloudwatch, "Invocations", alias) == {"SampleCount": 3, "Sum": 3}
    assert statistics(cloudwatch, "Duration", alias)["SampleCount"] == 3
    assert statistics(cloudwatch, "Errors", {"FunctionName": "metered"})["Sum"] == 4


def test_an_alarm_fires_on_errors_made_during_a_cloudwatch_outage(tmp_path):
    fault = tmp_path / "cloudwatch-down"
    server = launch(tmp_path / "home", {"P300_TELEMETRY_FAULT_FILE": str(fault)})
    try:
        lambda_client, cloudwatch = client(server, "lambda"), client(server, "cloudwatch")
        logs = client(server, "logs")
        failing_alias(lambda_client, "outage")
        alias = {"FunctionName": "outage", "Resource": "outage:live"}
        cloudwatch.put_metric_alarm(
            AlarmName="outage-errors",
            Namespace="AWS/Lambda",
            MetricName="Errors",
            Dimensions=[{"Name": k, "Value": v} for k, v in alias.items()],
            Statistic="Sum",
            Period=10,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            TreatMissingData="notBreaching",
        )
        fault.write_text("down")

        answers = [invoke_failing(lambda_client, "outage:live") for _ in range(3)]
        time.sleep(2)  # several flushes fail meanwhile
        during = statistics(cloudwatch, "Errors", alias), logged_invocations(logs, "outage")
        fault.unlink()
        delivered = wait_for(lambda: statistics(cloudwatch, "Errors", alias), timeout_s=10)
        logged = wait_for(lambda: logged_invocations(logs, "outage") == 3, timeout_s=10)
        state = wait_for(
            lambda: (
                cloudwatch.describe_alarms(AlarmNames=["outage-errors"])["MetricAlarms"][0][
                    "StateValue"
                ]
                == "ALARM"
            ),
            timeout_s=40,
        )
    finally:
        stop_server(server)

    assert [a["StatusCode"] for a in answers] == [200] * 3  # the outage failed no invocation
    assert all(a["Payload"]["errorMessage"] == "bad input: 7" for a in answers)
    assert during == ({}, 0)
    assert logged
    assert delivered == {"SampleCount": 3, "Sum": 3}
    assert state
