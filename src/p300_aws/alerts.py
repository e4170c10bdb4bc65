"""Alerts: stored as JSON in the monitoring bucket, then published to the alerts SNS topic.

An alert is written to ``alerts/<kind>/<raised_at stamp>-<id>.json`` *before* it is published, so
one that was acknowledged is never lost even when the topic is unreachable; the stamp in the key
sorts alerts by time without reading them. Subscribers of the topic (e-mail, SQS, chat) get a
short subject line and the alert's JSON as the message.
"""

import json
import re
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from p300_aws.names import MONITORING_BUCKET

ALERTS_PREFIX = "alerts/"
#: The environment variable naming the alerts topic's ARN in the functions that raise alerts.
TOPIC_ARN_ENV = "ALERTS_TOPIC_ARN"
#: SNS subjects must be at most 100 printable ASCII characters.
SUBJECT_MAX_CHARS = 100
_KIND_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")


def flag_metric_data(metric: str, flagged: bool, *, dimension: str, value: str) -> list[dict]:
    """The datapoints of an alarm's 0/1 metric: ``metric`` without dimensions (what the alarm
    watches) and with ``dimension`` = ``value`` (which subject or study it was)."""
    count = {"Value": 1.0 if flagged else 0.0, "Unit": "Count"}
    return [
        {"MetricName": metric, **count},
        {"MetricName": metric, "Dimensions": [{"Name": dimension, "Value": value}], **count},
    ]


def utc_now() -> str:
    """The current time as ISO-8601 UTC with microseconds."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Alert:
    """Something a person should look at.

    Parameters
    ----------
    kind : str
        What raised it: ``"drift"``, ``"health"`` (lower-case letters, digits and ``-``).
    subject : str
        One line, e.g. ``"champion failing: HTTP 502"``.
    message : str
        What happened and what to do, in a few sentences.
    evidence : dict
        JSON-serialisable facts behind the alert (statistics, p-values, status codes).
    raised_at : str
        ISO-8601 UTC time, e.g. ``"2026-11-22T19:30:00.123456+00:00"``.
    """

    kind: str
    subject: str
    message: str
    evidence: dict = field(default_factory=dict)
    raised_at: str = field(default_factory=utc_now)

    def __post_init__(self) -> None:
        check_kind(self.kind)
        _parse_utc(self.raised_at)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, document: dict) -> "Alert":
        return cls(**{name: document[name] for name in cls.__dataclass_fields__})


def check_kind(kind: str) -> None:
    """Raise ValueError unless ``kind`` is a short lower-case slug (it becomes part of keys)."""
    if not isinstance(kind, str) or not _KIND_PATTERN.match(kind):
        raise ValueError(
            "kind must be 1-32 lower-case letters, digits or '-' (e.g. 'drift', 'health'), "
            f"got {kind!r}"
        )


def alert_key(alert: Alert, *, alert_id: str) -> str:
    """``alerts/<kind>/<YYYYmmddTHHMMSS.ffffffZ>-<alert_id>.json``: sorts by time within a kind."""
    stamp = _parse_utc(alert.raised_at).strftime("%Y%m%dT%H%M%S.%fZ")
    return f"{ALERTS_PREFIX}{alert.kind}/{stamp}-{alert_id}.json"


def key_stamp(key: str) -> str:
    """The time stamp part of an `alert_key` (what newest-first ordering compares)."""
    return key.rsplit("/", 1)[-1].split("-", 1)[0]


def sns_subject(alert: Alert) -> str:
    """``[p300 <kind>] <subject>`` on one line of printable ASCII, at most 100 characters."""
    line = f"[p300 {alert.kind}] {' '.join(alert.subject.split())}"
    printable = line.encode("ascii", "replace").decode("ascii")
    if len(printable) <= SUBJECT_MAX_CHARS:
        return printable
    return printable[: SUBJECT_MAX_CHARS - 3] + "..."


def summarize_evidence(evidence: dict, *, max_chars: int = 80) -> str:
    """``key=value, ...`` on one line: numbers to 3 significant digits, nested values counted.

    Parameters
    ----------
    evidence : dict
    max_chars : int
        Longer summaries end in ``...``; `to_dict` keeps everything.
    """
    if max_chars < 4:
        raise ValueError(f"max_chars must be at least 4, got {max_chars!r}")
    line = ", ".join(f"{key}={_short_value(value)}" for key, value in evidence.items())
    return line if len(line) <= max_chars else line[: max_chars - 3] + "..."


def raise_alert(s3, sns, alert: Alert, *, topic_arn: str, bucket: str = MONITORING_BUCKET) -> str:
    """Store ``alert`` in ``bucket``, then publish it to the topic; returns its key.

    Parameters
    ----------
    s3, sns : boto3 clients
    alert : Alert
    topic_arn : str
        ARN of the alerts topic (the functions get it as ``ALERTS_TOPIC_ARN``).
    bucket : str
        Monitoring bucket.
    """
    key = alert_key(alert, alert_id=uuid.uuid4().hex[:12])
    body = json.dumps(alert.to_dict(), indent=2, sort_keys=True)
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode(), ContentType="application/json")
    sns.publish(
        TopicArn=topic_arn,
        Subject=sns_subject(alert),
        Message=body,
        MessageAttributes={"kind": {"DataType": "String", "StringValue": alert.kind}},
    )
    return key


def list_alerts(
    s3, *, kind: str | None = None, limit: int | None = None, bucket: str = MONITORING_BUCKET
) -> list[Alert]:
    """Stored alerts, newest first.

    Parameters
    ----------
    s3 : boto3 client
    kind : str, optional
        Only alerts of this kind.
    limit : int, optional
        At most this many (only those are read).
    bucket : str
        Monitoring bucket.
    """
    if kind is not None:
        check_kind(kind)
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive integer or None, got {limit!r}")
    prefix = f"{ALERTS_PREFIX}{kind}/" if kind else ALERTS_PREFIX
    keys = sorted(_keys(s3, bucket, prefix), key=key_stamp, reverse=True)[:limit]
    return [_read_alert(s3, bucket, key) for key in keys]


def _keys(s3, bucket: str, prefix: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def _read_alert(s3, bucket: str, key: str) -> Alert:
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return Alert.from_dict(json.loads(body))


def _short_value(value) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, dict):
        return f"{{{len(value)} keys}}"
    if isinstance(value, list | tuple):
        # A few names (drifted channels, aliases) are the evidence itself: show them.
        if len(value) <= 4 and all(isinstance(item, str | int) for item in value):
            return "[" + ", ".join(str(item) for item in value) + "]"
        return f"[{len(value)} items]"
    return " ".join(str(value).split())


def _parse_utc(raised_at: str) -> datetime:
    try:
        moment = datetime.fromisoformat(raised_at)
    except (TypeError, ValueError):
        moment = None
    if moment is None or moment.utcoffset() is None:
        raise ValueError(f"raised_at must be an ISO-8601 time with a UTC offset, got {raised_at!r}")
    return moment.astimezone(UTC)
