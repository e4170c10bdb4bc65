"""Monitoring read for people: per-alias probe metrics from CloudWatch (stubbed client)."""

from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import ANY, Stubber

from p300_aws.names import HEALTH_LATENCY_METRIC, HEALTH_METRIC
from p300_ops.services.monitoring import alias_metrics

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _cloudwatch():
    return boto3.client("cloudwatch", region_name="us-east-1", aws_access_key_id="test",
                        aws_secret_access_key="test")  # fmt: skip


def _expect(stub, metric: str, alias: str, points: list[dict]) -> None:
    expected = {"Namespace": "P300", "MetricName": metric, "StartTime": ANY, "EndTime": ANY,
                "Period": 3600, "Statistics": ANY,
                "Dimensions": [{"Name": "Alias", "Value": alias}]}  # fmt: skip
    stub.add_response("get_metric_statistics", {"Datapoints": points}, expected)


def test_error_rate_and_latency_per_alias_from_the_probe_metrics():
    client = _cloudwatch()
    with Stubber(client) as stub:
        _expect(stub, HEALTH_METRIC, "champion", [{"SampleCount": 60.0, "Sum": 3.0}])
        _expect(stub, HEALTH_LATENCY_METRIC, "champion", [{"Average": 40.0, "Maximum": 90.0}])
        _expect(stub, HEALTH_METRIC, "challenger", [])
        _expect(stub, HEALTH_LATENCY_METRIC, "challenger", [])
        rows = alias_metrics(client, now=NOW)
    assert rows == [
        {"alias": "champion", "probes": 60, "failures": 3, "error_rate": 0.05,
         "latency_avg_ms": 40.0, "latency_max_ms": 90.0},
        {"alias": "challenger", "probes": 0, "failures": 0, "error_rate": None,
         "latency_avg_ms": None, "latency_max_ms": None},
    ]  # fmt: skip


@pytest.mark.parametrize("minutes", [0, 1.5])
def test_the_window_must_be_whole_minutes(minutes):
    with pytest.raises(ValueError, match=f"minutes must be a positive integer, got {minutes}"):
        alias_metrics(_cloudwatch(), minutes=minutes)
