"""What monitoring has to say: the alerts raised (drift, data quality, health), the alarms'
states, and the health probe run on demand."""

import json
from dataclasses import dataclass

from botocore.config import Config

from p300_aws.alerts import Alert, list_alerts
from p300_aws.names import (
    DATA_QUALITY_ALARM,
    DATA_QUALITY_KIND,
    DRIFT_ALARM,
    HEALTH_ALARM,
    HEALTH_PROBE_FUNCTION,
)
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
