"""The batched delivery of Lambda metrics and logs: aggregation, retries, bounds."""

import pytest
from p300_localstack.telemetry.batch import (
    MAX_VALUES_PER_DATUM,
    LogLines,
    TelemetryDelivery,
    invocation_points,
    log_events,
    metric_data,
)


def points(*, resource="fn:live", is_error=False, duration_ms=12.5, timestamp=100.2):
    return invocation_points(
        account="000000000000",
        region="us-east-1",
        function="fn",
        resource=resource,
        is_error=is_error,
        duration_ms=duration_ms,
        timestamp=timestamp,
    )


@pytest.mark.parametrize(
    ("resource", "dimensions"),
    [
        (None, [{"Name": "FunctionName", "Value": "fn"}]),
        (
            "fn:live",
            [{"Name": "FunctionName", "Value": "fn"}, {"Name": "Resource", "Value": "fn:live"}],
        ),
    ],
)
def test_an_invocation_adds_invocations_errors_and_duration(resource, dimensions):
    data = metric_data(points(resource=resource, is_error=True))[("000000000000", "us-east-1")]

    assert {d["MetricName"]: d["Values"] for d in data} == {
        "Invocations": [1.0],
        "Errors": [1.0],
        "Duration": [12.5],
    }
    assert all(d["Dimensions"] == dimensions for d in data)
    assert {d["Unit"] for d in data} == {"Count", "Milliseconds"}


def test_no_report_line_means_no_duration():
    assert "Duration" not in {p.name for p in points(duration_ms=None)}


def test_points_of_one_second_merge_into_values_and_counts():
    batch = points(timestamp=100.1) + points(timestamp=100.9, is_error=True) + points(timestamp=101)

    data = metric_data(batch)[("000000000000", "us-east-1")]
    errors = sorted(
        (d["Timestamp"], d["Values"], d["Counts"]) for d in data if d["MetricName"] == "Errors"
    )

    assert errors == [(100.0, [0.0, 1.0], [1.0, 1.0]), (101.0, [0.0], [1.0])]


def test_many_distinct_values_split_into_data_within_the_limit():
    batch = [p for i in range(MAX_VALUES_PER_DATUM + 1) for p in points(duration_ms=float(i))]

    data = metric_data(batch)[("000000000000", "us-east-1")]
    durations = [d for d in data if d["MetricName"] == "Duration"]

    assert [len(d["Values"]) for d in durations] == [MAX_VALUES_PER_DATUM, 1]


def test_log_events_are_one_per_non_empty_line_in_time_order():
    later = LogLines("a", "r", "/aws/lambda/fn", "s", "END\n\nREPORT\n", 2000)
    earlier = LogLines("a", "r", "/aws/lambda/fn", "s", "START\n", 1000)

    events = log_events([later, earlier])

    assert events == {
        ("a", "r", "/aws/lambda/fn", "s"): [
            {"timestamp": 1000, "message": "START\n"},
            {"timestamp": 2000, "message": "END\n"},
            {"timestamp": 2000, "message": "REPORT\n"},
        ]
    }


class FlakyCloudWatch:
    """Records what is sent; raises while ``down``."""

    def __init__(self):
        self.down = False
        self.metrics, self.logs = [], []

    def send_metrics(self, account, region, data):
        if self.down:
            raise ConnectionError("CloudWatch unavailable")
        self.metrics += data

    def send_logs(self, account, region, group, stream, events):
        if self.down:
            raise ConnectionError("CloudWatch unavailable")
        self.logs += events


def test_a_failed_flush_keeps_everything_and_the_next_one_delivers_it():
    cloudwatch = FlakyCloudWatch()
    delivery = TelemetryDelivery(cloudwatch.send_metrics, cloudwatch.send_logs)
    cloudwatch.down = True
    delivery.add_points(points(is_error=True, timestamp=50.0))
    delivery.add_logs(LogLines("a", "r", "g", "s", "boom\n", 50_000))

    assert delivery.flush() is False
    assert delivery.pending() == (3, 1)
    cloudwatch.down = False
    delivery.add_points(points(timestamp=60.0))

    assert delivery.flush() is True
    assert delivery.pending() == (0, 0)
    errors = [
        (d["Timestamp"], d["Values"]) for d in cloudwatch.metrics if d["MetricName"] == "Errors"
    ]
    assert sorted(errors) == [(50.0, [1.0]), (60.0, [0.0])]  # each kept its own time
    assert cloudwatch.logs == [{"timestamp": 50_000, "message": "boom\n"}]


def test_the_thread_flushes_within_its_interval_and_on_stop():
    cloudwatch = FlakyCloudWatch()
    delivery = TelemetryDelivery(cloudwatch.send_metrics, cloudwatch.send_logs, interval_s=0.01)
    delivery.start()
    delivery.add_points(points())
    delivery.stop()

    assert delivery.pending() == (0, 0)
    assert {d["MetricName"] for d in cloudwatch.metrics} == {"Invocations", "Errors", "Duration"}
