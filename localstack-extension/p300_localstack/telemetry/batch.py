"""Batched delivery of Lambda invocation metrics and logs (pure: no LocalStack import).

LocalStack 2026.3.0 sends CloudWatch one ``PutMetricData`` per invocation (in a new thread) and
one ``PutLogEvents`` per invocation, each a full HTTP round trip through its own gateway and a
SQLite commit: about a third of its CPU per ``Invoke``. Here the invocation only appends to a
buffer; a background thread sends everything buffered every `FLUSH_INTERVAL_S` in one call per
(account, region) for metrics and one per log stream for logs. A failed send keeps the batch
and retries it at the next flush (the points keep their own timestamps, so an alarm still sees
when the errors happened); the invocation never waits for, or fails on, delivery.
"""

import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

LOG = logging.getLogger(__name__)

#: Seconds between flushes: data reaches CloudWatch within this bound plus one send (≤ 1 s).
FLUSH_INTERVAL_S = 0.5
#: CloudWatch's limits: metric data per PutMetricData, values per datum.
MAX_DATA_PER_CALL, MAX_VALUES_PER_DATUM = 1000, 150
#: Points and log lines kept while CloudWatch is down; the oldest go first beyond these.
MAX_PENDING = 100_000


@dataclass(frozen=True)
class MetricPoint:
    """One value of one ``AWS/Lambda`` metric; ``timestamp`` in s since the epoch."""

    account: str
    region: str
    name: str
    dimensions: tuple[tuple[str, str], ...]
    value: float
    unit: str
    timestamp: float


@dataclass(frozen=True)
class LogLines:
    """The log output of one invocation, for one stream; ``timestamp`` in ms since the epoch."""

    account: str
    region: str
    group: str
    stream: str
    text: str
    timestamp: int


def invocation_points(
    *,
    account: str,
    region: str,
    function: str,
    resource: str | None,
    is_error: bool,
    duration_ms: float | None,
    timestamp: float,
) -> list[MetricPoint]:
    """The points one invocation adds: ``Invocations``, ``Errors`` (0 or 1) and ``Duration``
    (ms) by ``FunctionName``, plus ``Resource`` (``function:alias`` or ``function:version``) when
    the call named a qualifier.

    AWS publishes a qualified call under both dimension sets. LocalStack's queries match any
    datum whose dimensions include the ones asked for, so one set per call is what makes both a
    per-function and a per-alias query count each invocation once there.
    """
    dimensions = (("FunctionName", function),)
    if resource:
        dimensions += (("Resource", resource),)
    values = [("Invocations", 1.0, "Count"), ("Errors", float(is_error), "Count")]
    if duration_ms is not None:
        values.append(("Duration", duration_ms, "Milliseconds"))
    return [
        MetricPoint(account, region, name, dimensions, value, unit, timestamp)
        for name, value, unit in values
    ]


def metric_data(points: list[MetricPoint]) -> dict[tuple[str, str], list[dict]]:
    """``PutMetricData`` ``MetricData`` lists by (account, region): points of one metric,
    dimensions and second merged into one datum of ``Values``/``Counts``."""
    merged: dict[tuple, dict[float, int]] = defaultdict(lambda: defaultdict(int))
    units = {}
    for p in points:
        key = (p.account, p.region, p.name, p.dimensions, int(p.timestamp))
        merged[key][p.value] += 1
        units[key] = p.unit
    data: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for key, counts in merged.items():
        account, region, name, dimensions, second = key
        pairs = list(counts.items())
        for start in range(0, len(pairs), MAX_VALUES_PER_DATUM):
            chunk = pairs[start : start + MAX_VALUES_PER_DATUM]
            data[(account, region)].append(
                {
                    "MetricName": name,
                    "Dimensions": [{"Name": n, "Value": v} for n, v in dimensions],
                    "Timestamp": float(second),
                    "Values": [value for value, _ in chunk],
                    "Counts": [float(count) for _, count in chunk],
                    "Unit": units[key],
                }
            )
    return dict(data)


def log_events(batch: list[LogLines]) -> dict[tuple[str, str, str, str], list[dict]]:
    """``PutLogEvents`` events by (account, region, group, stream), one event per non-empty
    line (CloudWatch refuses empty ones), in time order."""
    events: dict[tuple[str, str, str, str], list[dict]] = defaultdict(list)
    for item in batch:
        key = (item.account, item.region, item.group, item.stream)
        events[key] += [
            {"timestamp": item.timestamp, "message": line + "\n"}
            for line in item.text.split("\n")
            if line
        ]
    for stream_events in events.values():
        stream_events.sort(key=lambda event: event["timestamp"])
    return dict(events)


class TelemetryDelivery:
    """A buffer of metric points and log lines, sent by one background thread.

    Parameters
    ----------
    send_metrics : callable
        ``send_metrics(account, region, metric_data)``: one ``PutMetricData`` call.
    send_logs : callable
        ``send_logs(account, region, group, stream, events)``: creates the group and stream
        when missing and puts the events.
    interval_s : float
        Seconds between flushes.
    """

    def __init__(
        self,
        send_metrics: Callable[[str, str, list[dict]], None],
        send_logs: Callable[[str, str, str, str, list[dict]], None],
        *,
        interval_s: float = FLUSH_INTERVAL_S,
    ) -> None:
        self._send_metrics, self._send_logs = send_metrics, send_logs
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._points: list[MetricPoint] = []
        self._logs: list[LogLines] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add_points(self, points: list[MetricPoint]) -> None:
        with self._lock:
            self._points += points
            del self._points[:-MAX_PENDING]

    def add_logs(self, lines: LogLines) -> None:
        with self._lock:
            self._logs.append(lines)
            del self._logs[:-MAX_PENDING]

    def pending(self) -> tuple[int, int]:
        """(metric points, log items) not yet delivered."""
        with self._lock:
            return len(self._points), len(self._logs)

    def flush(self) -> bool:
        """Send everything buffered; what fails goes back to the buffer. True when all went."""
        with self._lock:
            points, self._points = self._points, []
            logs, self._logs = self._logs, []
        failed_points = self._deliver_metrics(points)
        failed_logs = self._deliver_logs(logs)
        if failed_points or failed_logs:
            with self._lock:  # back in front of what arrived meanwhile
                self._points[:0] = failed_points
                self._logs[:0] = failed_logs
        return not (failed_points or failed_logs)

    def _deliver_metrics(self, points: list[MetricPoint]) -> list[MetricPoint]:
        failed = []
        for (account, region), data in metric_data(points).items():
            try:
                for start in range(0, len(data), MAX_DATA_PER_CALL):
                    self._send_metrics(account, region, data[start : start + MAX_DATA_PER_CALL])
            except Exception as error:  # any provider error: keep the points, retry later
                LOG.warning("Lambda metrics not delivered (retrying): %s", error)
                failed += [p for p in points if (p.account, p.region) == (account, region)]
        return failed

    def _deliver_logs(self, logs: list[LogLines]) -> list[LogLines]:
        failed = []
        for (account, region, group, stream), events in log_events(logs).items():
            try:
                self._send_logs(account, region, group, stream, events)
            except Exception as error:
                LOG.warning("Lambda logs of %s not delivered (retrying): %s", group, error)
                failed += [
                    item
                    for item in logs
                    if (item.account, item.region, item.group, item.stream)
                    == (account, region, group, stream)
                ]
        return failed

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="p300-telemetry", daemon=True)
        self._thread.start()

    def stop(self, *, timeout_s: float = 2.0) -> None:
        """Stop the thread after a last flush."""
        self._stop.set()
        if self._thread:
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.flush()
        self.flush()
