"""Executions cut off by the end of LocalStack are shown ABORTED, saying why."""

from datetime import UTC, datetime

import pytest
from p300_localstack.cloud_state.history import (
    CUT_OFF_ERROR,
    KILLED_CAUSE,
    STOPPED_CAUSE,
    aborted,
    cut_off_unreported,
    is_running,
)

STARTED = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
AT = datetime(2026, 12, 1, 10, 5, tzinfo=UTC)


def running(events: list[dict]) -> dict:
    describe = {"executionArn": "arn:x", "name": "x", "status": "RUNNING", "startDate": STARTED,
                "input": '{"catch_up": true}', "stateMachineArn": "arn:sm"}  # fmt: skip
    return {
        "status": "RUNNING",
        "describe": describe,
        "list_item": {"executionArn": "arn:x", "status": "RUNNING", "startDate": STARTED},
        "events": events,
        "state_machine": {"roleArn": "arn:role"},
    }


def test_a_start_record_gets_a_started_and_an_aborted_event():
    data = aborted(running([]), cause=KILLED_CAUSE, at=AT)
    assert data["status"] == data["describe"]["status"] == data["list_item"]["status"] == "ABORTED"
    assert data["describe"]["stopDate"] == data["list_item"]["stopDate"] == AT
    assert data["describe"]["error"] == CUT_OFF_ERROR
    assert (
        "killed" in data["describe"]["cause"]
        and "2026-12-01T10:05:00+00:00" in (data["describe"]["cause"])
    )
    started, ended = data["events"]
    assert started["type"] == "ExecutionStarted" and started["id"] == 1
    assert started["executionStartedEventDetails"]["input"] == '{"catch_up": true}'
    assert started["executionStartedEventDetails"]["roleArn"] == "arn:role"
    assert ended == {
        "timestamp": AT, "type": "ExecutionAborted", "id": 2, "previousEventId": 1,
        "executionAbortedEventDetails": {"error": CUT_OFF_ERROR,
                                         "cause": data["describe"]["cause"]},
    }  # fmt: skip


def test_a_history_so_far_is_kept_and_ends_aborted():
    events = [
        {"id": 1, "type": "ExecutionStarted", "timestamp": STARTED},
        {"id": 2, "type": "TaskStateEntered", "timestamp": STARTED, "previousEventId": 1},
    ]
    data = aborted(running(events), cause=STOPPED_CAUSE, at=AT)  # fmt: skip
    assert [e["type"] for e in data["events"]] == [
        "ExecutionStarted", "TaskStateEntered", "ExecutionAborted"
    ]  # fmt: skip
    assert data["events"][-1]["previousEventId"] == 2
    assert "shut down" in data["describe"]["cause"]


def test_the_output_of_an_aborted_execution_is_dropped():
    data = running([])
    data["describe"]["output"] = "{}"
    assert "output" not in aborted(data, cause=KILLED_CAUSE, at=AT)["describe"]


@pytest.mark.parametrize(
    ("data", "running_", "unreported"),
    [
        ({"status": "RUNNING"}, True, False),
        ({"status": "SUCCEEDED"}, False, False),
        ({"status": "ABORTED", "cut_off": False}, False, True),
        ({"status": "ABORTED", "cut_off": True}, False, False),
    ],
)
def test_cut_off_executions_are_reported_once(data, running_, unreported):
    assert is_running(data) is running_
    assert cut_off_unreported(data) is unreported


def test_a_cut_off_record_is_reported_until_a_restore_marks_it():
    assert cut_off_unreported(aborted(running([]), cause=KILLED_CAUSE, at=AT))
