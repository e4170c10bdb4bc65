"""CloudWatch's metric store writes one transaction per PutMetricData (LocalStack 2026.3.0
speed-up).

LocalStack's `CloudwatchDatabase.add_metric_data` opens a SQLite connection and commits once per
metric datum; each commit syncs the file. With the Lambda metrics batched
(`lambda_telemetry`), those commits were the largest cost left on the request path (19–29 % of
LocalStack's CPU, docs/benchmarks.md). Here the rows of every datum of one call go in one
transaction: the same rows, the same tables, one commit (and a call is stored whole or not at
all, as AWS stores it).
"""

import sqlite3
from datetime import UTC, datetime

from localstack.services.cloudwatch.cloudwatch_database_helper import CloudwatchDatabase
from localstack.utils.patch import Patch

_COLUMNS = (
    "account_id, region, metric_name, namespace, timestamp, dimensions, unit, storage_resolution"
)


def metric_rows(database: CloudwatchDatabase, account: str, region: str, namespace: str,
                metric_data: list[dict]) -> tuple[list[tuple], list[tuple]]:  # fmt: skip
    """The rows LocalStack stores for ``metric_data``: (single values, aggregated statistics)."""
    singles, aggregated = [], []
    for metric in metric_data:
        if metric.get("Timestamp"):
            timestamp = database._convert_timestamp_to_unix(metric["Timestamp"])
        else:
            timestamp = int(datetime.now(UTC).timestamp())
        common = (
            account,
            region,
            metric.get("MetricName"),
            namespace,
            timestamp,
            database._get_ordered_dimensions_with_separator(metric.get("Dimensions")),
            metric.get("Unit"),
            metric.get("StorageResolution"),
        )
        if metric.get("Value") is not None:
            singles.append((*common, metric["Value"]))
        elif metric.get("Values"):
            counts = metric.get("Counts") or [1] * len(metric["Values"])
            for value, count in zip(metric["Values"], counts, strict=True):
                singles += [(*common, value)] * int(count)
        if statistics := metric.get("StatisticValues"):
            names = ("SampleCount", "Sum", "Minimum", "Maximum")
            aggregated.append((*common, *(statistics.get(name) for name in names)))
    return singles, aggregated


def metric_data_one_transaction() -> list[Patch]:
    """Every datum of one PutMetricData in one SQLite transaction instead of one each."""

    def add_metric_data(self, account_id, region, namespace, metric_data) -> None:
        singles, aggregated = metric_rows(self, account_id, region, namespace, metric_data)
        if not (singles or aggregated):
            return
        with self.DATABASE_LOCK, sqlite3.connect(self.METRICS_DB) as conn:
            conn.executemany(
                f"INSERT INTO {self.TABLE_SINGLE_METRICS} ({_COLUMNS}, value) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                singles,
            )
            conn.executemany(
                f"INSERT INTO {self.TABLE_AGGREGATED_METRICS} ({_COLUMNS}, sample_count, sum, "
                "min, max) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                aggregated,
            )
            conn.commit()

    return [Patch.function(CloudwatchDatabase.add_metric_data, add_metric_data, pass_target=False)]
