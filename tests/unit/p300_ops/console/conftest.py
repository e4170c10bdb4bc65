"""Executions recorded from LocalStack (tests/unit/p300_ops/services/data) with the definitions
of the machines that made them."""

import json
from datetime import datetime
from pathlib import Path

import pytest

from p300_ops.console.execution_view import execution_view
from p300_ops.console.graph import layout
from p300_ops.services.execution_history import iteration_statuses, state_runs
from p300_ops.services.pipeline_executions import ExecutionDetails

DATA = Path(__file__).parents[1] / "services" / "data"
TASK = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke"}
#: The machine of task_failures_history.json: a Map whose items may be caught, then a Task.
TASK_FAILURES = {
    "StartAt": "ForEachObject",
    "States": {
        "ForEachObject": {
            "Type": "Map", "ItemsPath": "$.items", "Next": "Train",
            "ItemProcessor": {"StartAt": "Ingest", "States": {
                "Ingest": TASK | {"End": True, "Catch": [{"ErrorEquals": ["States.ALL"],
                                                          "ResultPath": "$.error",
                                                          "Next": "ItemFailed"}]},
                "ItemFailed": {"Type": "Pass", "End": True},
            }},
        },
        "Train": TASK | {"End": True},
    },
}  # fmt: skip


def history(name: str, *, until: int | None = None) -> list[dict]:
    events = json.loads((DATA / f"{name}_history.json").read_text())
    for event in events:
        event["timestamp"] = datetime.fromisoformat(event["timestamp"])
    return [e for e in events if until is None or e["id"] <= until]


def details(events: list[dict], *, status: str = "FAILED") -> ExecutionDetails:
    described = {"name": "x", "status": status, "startDate": events[0]["timestamp"],
                 "stateMachineArn": "arn:aws:states:us-east-1:0:stateMachine:m",
                 "executionArn": "arn:aws:states:us-east-1:0:execution:m:x",
                 "input": {"items": [{"n": 1}, {"n": 2}]}}  # fmt: skip
    return ExecutionDetails(described, state_runs(events), iterations=iteration_statuses(events))


@pytest.fixture
def failed_view():
    """A Map with one caught item, then a Task that failed the execution."""
    return execution_view(details(history("task_failures")), layout(TASK_FAILURES))
