"""Lambda logs and invocation metrics off the request path (LocalStack 2026.3.0 speed-up).

A profile of one warm ``Invoke`` on a bare LocalStack put ~23 % of its CPU in the SQLite commit
of the ``PutMetricData`` it sends itself per invocation, and ~20 % more in the two boto3 calls
(metrics, logs) that go through its own HTTP gateway (docs/benchmarks.md). Here the invocation
only appends to `telemetry.batch.TelemetryDelivery`; its thread sends every 0.5 s. AWS also
delivers both asynchronously. The metrics are AWS's: ``Invocations``, ``Errors`` and
``Duration`` (from the REPORT line) by function and by function + ``Resource`` (the alias or
version invoked), which LocalStack does not publish at all.

``P300_TELEMETRY_FAULT_FILE`` (tests only): while that file exists every send fails as a
CloudWatch provider error would, so a test can show delivery resuming after an outage.
"""

import contextlib
import os
import re
import time
from pathlib import Path

from localstack.aws.connect import connect_to
from localstack.services.lambda_.invocation import version_manager
from localstack.services.lambda_.invocation.logs import LogHandler, LogItem
from localstack.services.lambda_.invocation.version_manager import LambdaVersionManager
from localstack.utils.patch import Patch

from p300_localstack.telemetry.batch import LogLines, TelemetryDelivery, invocation_points

FAULT_FILE_ENV = "P300_TELEMETRY_FAULT_FILE"
#: LocalStack's thread names for its per-invocation metric threads (version_manager.invoke).
METRIC_THREAD_PREFIX = "record-cloudwatch-metric"
_DURATION = re.compile(r"\tDuration: ([0-9.]+) ms")


def _check_fault() -> None:
    fault = os.environ.get(FAULT_FILE_ENV, "").strip()
    if fault and Path(fault).exists():
        raise ConnectionError(f"CloudWatch unavailable: fault injected by {fault}")


def send_metrics(account: str, region: str, data: list[dict]) -> None:
    _check_fault()
    cloudwatch = connect_to(aws_access_key_id=account, region_name=region).cloudwatch
    cloudwatch.put_metric_data(Namespace="AWS/Lambda", MetricData=data)


def send_logs(account: str, region: str, group: str, stream: str, events: list[dict]) -> None:
    _check_fault()
    logs = connect_to(aws_access_key_id=account, region_name=region).logs
    try:
        logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)
    except logs.exceptions.ResourceNotFoundException:
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)


def invoked_resource(invoked_arn: str) -> str | None:
    """``function:qualifier`` of a qualified function ARN, None for an unqualified one."""
    parts = invoked_arn.split(":")
    if len(parts) < 8 or parts[7] in ("", "$LATEST"):
        return None
    return f"{parts[6]}:{parts[7]}"


def report_duration_ms(logs: str | None) -> float | None:
    """The handler's duration from the REPORT line of an invocation's logs (ms), if any."""
    match = _DURATION.search(logs or "")
    return float(match.group(1)) if match else None


def batched_lambda_telemetry() -> list[Patch]:
    """Record each invocation's metrics and logs in one shared buffer sent by a background
    thread, instead of a thread and an HTTP call per invocation (metrics) and an HTTP call per
    invocation and per function version thread (logs)."""
    delivery = TelemetryDelivery(send_metrics, send_logs)
    delivery.start()
    original_start_thread = version_manager.start_thread

    def invoke(original, self, *, invocation):
        result = original(self, invocation=invocation)
        function = self.function_version.id
        delivery.add_points(
            invocation_points(
                account=function.account,
                region=function.region,
                function=function.function_name,
                resource=invoked_resource(invocation.invoked_arn),
                is_error=result.is_error,
                duration_ms=report_duration_ms(result.logs),
                timestamp=time.time(),
            )
        )
        return result

    def start_thread(method, *args, **kwargs):
        # LocalStack's per-invocation metric thread: `invoke` above records these metrics.
        if str(kwargs.get("name", "")).startswith(METRIC_THREAD_PREFIX):
            return None
        return original_start_thread(method, *args, **kwargs)

    def add_logs(self, log_item: LogItem) -> None:
        account = self.role_arn.split(":")[4]
        delivery.add_logs(
            LogLines(
                account,
                self.region,
                log_item.log_group,
                log_item.log_stream,
                log_item.logs,
                int(time.time() * 1000),
            )
        )

    def start_subscriber(self) -> None:
        """No log thread per function version: `add_logs` hands logs to the shared one."""

    return [
        Patch.function(LambdaVersionManager.invoke, invoke),
        Patch(version_manager, "start_thread", start_thread),
        Patch.function(LogHandler.add_logs, add_logs, pass_target=False),
        Patch.function(LogHandler.start_subscriber, start_subscriber, pass_target=False),
    ]
