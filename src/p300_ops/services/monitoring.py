"""What monitoring has to say: the alerts raised (drift, data quality, health), the alarms'
states, and the health probe run on demand."""

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from botocore.config import Config

from p300_aws.alerts import Alert, list_alerts
from p300_aws.names import (
    DATA_QUALITY_ALARM,
    DATA_QUALITY_KIND,
    DRIFT_ALARM,
    HEALTH_ALARM,
    HEALTH_LATENCY_METRIC,
    HEALTH_METRIC,
    HEALTH_PROBE_FUNCTION,
    METRIC_NAMESPACE,
    PREDICTION_ROUTES,
)
from p300_ops.services import pipeline_executions
from p300_ops.services.errors import ServiceError

ALERT_KINDS = ("drift", DATA_QUALITY_KIND, "health")
ALARMS = (DRIFT_ALARM, DATA_QUALITY_ALARM, HEALTH_ALARM)
#: The probe may wait 20 s per alias; boto3's default read timeout (60 s) would cut it off.
PROBE_CLIENT_CONFIG = Config(read_timeout=120, retries={"max_attempts": 1})


@dataclass(frozen=True)
class MonitoringState:
    """The platform alarms' states and the latest alerts, newest first."""

    alarms: list[dict]
    alerts: list[Alert]

    def to_dict(self) -> dict:
        return {"alarms": self.alarms, "alerts": [alert.to_dict() for alert in self.alerts]}


def alarm_states(cloudwatch) -> list[dict]:
    """``{"name", "state", "reason", "updated"}`` of each platform alarm that exists."""
    alarms = cloudwatch.describe_alarms(AlarmNames=list(ALARMS))["MetricAlarms"]
    return [
        {
            "name": alarm["AlarmName"],
            "state": alarm["StateValue"],
            "reason": alarm.get("StateReason", ""),
            "updated": alarm.get("StateUpdatedTimestamp"),
        }
        for alarm in sorted(alarms, key=lambda alarm: alarm["AlarmName"])
    ]


def monitoring_state(s3, cloudwatch, *, kind: str | None = None, limit: int = 20):
    """The alarms and the last ``limit`` alerts (of ``kind`` when given)."""
    return MonitoringState(alarm_states(cloudwatch), list_alerts(s3, kind=kind, limit=limit))


def run_health_probe(cloud) -> dict:
    """Invoke the health probe Lambda now on ``cloud`` (a `p300_ops.services.cloud.Cloud`);
    its report (`p300_aws.health_probe.run_probe`), or `ServiceError` when it failed."""
    lambda_client = cloud.client("lambda", config=PROBE_CLIENT_CONFIG)
    response = lambda_client.invoke(FunctionName=HEALTH_PROBE_FUNCTION)
    report = json.loads(response["Payload"].read())
    if "FunctionError" in response:
        raise ServiceError(f"the health probe failed: {report.get('errorMessage', report)}")
    return report


def alias_metrics(cloudwatch, *, minutes: int = 60, now: datetime | None = None) -> list[dict]:
    """Each serving alias over the last ``minutes``, from the health probe's metrics:
    ``{"alias", "probes", "failures", "error_rate" (0–1, None without probes),
    "latency_avg_ms", "latency_max_ms"}``."""
    if not (isinstance(minutes, int) and minutes >= 1):
        raise ValueError(f"minutes must be a positive integer, got {minutes!r}")
    end = now or datetime.now(UTC)
    window = {"StartTime": end - timedelta(minutes=minutes), "EndTime": end, "Period": minutes * 60}
    rows = []
    for alias in PREDICTION_ROUTES.values():
        failures = _statistics(cloudwatch, HEALTH_METRIC, alias, window, ("SampleCount", "Sum"))
        latency = _statistics(
            cloudwatch, HEALTH_LATENCY_METRIC, alias, window, ("Average", "Maximum")
        )
        probes = int(failures.get("SampleCount", 0))
        failed = int(failures.get("Sum", 0))
        rows.append(
            {
                "alias": alias,
                "probes": probes,
                "failures": failed,
                "error_rate": failed / probes if probes else None,
                "latency_avg_ms": latency.get("Average"),
                "latency_max_ms": latency.get("Maximum"),
            }
        )
    return rows


def _statistics(cloudwatch, metric: str, alias: str, window: dict, statistics) -> dict:
    """The statistics of one metric of one alias over the window (one period), or {}."""
    answer = cloudwatch.get_metric_statistics(
        Namespace=METRIC_NAMESPACE,
        MetricName=metric,
        Dimensions=[{"Name": "Alias", "Value": alias}],
        Statistics=list(statistics),
        **window,
    )
    points = answer.get("Datapoints", [])
    if not points:
        return {}
    merged = {"SampleCount": 0.0, "Sum": 0.0}
    for point in points:  # one period, but an emulator may split it
        merged["SampleCount"] += point.get("SampleCount", 0.0)
        merged["Sum"] += point.get("Sum", 0.0)
    if "Average" in statistics:
        merged["Average"] = sum(p["Average"] for p in points) / len(points)
        merged["Maximum"] = max(p["Maximum"] for p in points)
    return merged


def last_drift_checks(sfn, *, executions: int = 50) -> list[dict]:
    """The latest drift check of each subject/session in the outputs of the last
    ``executions`` ingest executions: ``{"subject", "session", "execution", "checked_at",
    "drift"}`` (``drift`` as the check reported it), sorted by subject and session."""
    found: dict[tuple, dict] = {}
    listed = pipeline_executions.list_executions(
        sfn, state_machine="ingest", status="SUCCEEDED", limit=executions
    )
    for execution in listed:  # newest first: keep the first check of each subject/session
        output = pipeline_executions.describe(sfn, execution["executionArn"]).get("output")
        for result in (output or {}).get("results", []) if isinstance(output, dict) else []:
            drift = result.get("drift") if isinstance(result, dict) else None
            ids = (result.get("subject"), result.get("session")) if drift else None
            if ids and ids not in found:
                found[ids] = {
                    "subject": ids[0],
                    "session": ids[1],
                    "execution": execution["name"],
                    "checked_at": execution["startDate"],
                    "drift": drift,
                }
    return [found[ids] for ids in sorted(found, key=lambda k: (str(k[0]), str(k[1])))]
