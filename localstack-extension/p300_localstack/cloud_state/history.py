"""Step Functions executions as the cloud state keeps them (pure: no LocalStack imports).

An execution record is a dict:

- ``status``: the execution's status ("RUNNING" in the record written when it starts);
- ``describe``: what DescribeExecution answers;
- ``list_item``: its entry in ListExecutions;
- ``events``: its history (GetExecutionHistory's events), empty in a start record;
- ``state_machine``: what DescribeStateMachineForExecution answers.

- ``cut_off``: present once it was cut off by LocalStack's end: False until a restore has
  reported it, then True.

An execution whose last record says RUNNING was cut off by LocalStack's end without a word (a
kill): the restore shows it ABORTED (`aborted`), with an error and a cause that say so. At a clean
stop, the running ones are recorded ABORTED at once, with their history so far.
"""

from datetime import datetime

#: The error of an execution cut off by LocalStack's end.
CUT_OFF_ERROR = "P300.CloudStopped"
#: Its cause when LocalStack was killed (no chance to say anything) or stopped cleanly.
KILLED_CAUSE = (
    "LocalStack stopped without shutting down (it was killed, or the machine went down) while "
    "this execution ran; it was marked ABORTED when LocalStack started again, at {at}"
)
STOPPED_CAUSE = "LocalStack was shut down while this execution ran, at {at}"


def aborted(data: dict, *, cause: str, at: datetime) -> dict:
    """The record of an execution that was still running, ended as ABORTED at `at`.

    Parameters
    ----------
    data : dict
        The execution's record (see the module docstring).
    cause : str
        KILLED_CAUSE or STOPPED_CAUSE; ``{at}`` is replaced by `at` in ISO format.
    at : datetime
        When it was cut off (or found cut off), timezone-aware.

    Returns
    -------
    dict
        A new record: status ABORTED with `at` as its stop date, the error and cause in its
        description, its history ending with an ``ExecutionAborted`` event (after an
        ``ExecutionStarted`` one when the record had no history), ``cut_off`` False.
    """
    reason = cause.format(at=at.isoformat(timespec="seconds"))
    describe = {
        key: value
        for key, value in data["describe"].items()
        if key not in ("output", "outputDetails")
    }
    describe.update(status="ABORTED", stopDate=at, error=CUT_OFF_ERROR, cause=reason)
    list_item = {**data["list_item"], "status": "ABORTED", "stopDate": at}
    events = [dict(event) for event in data["events"]] or [started_event(data)]
    last = events[-1]["id"]
    events.append(
        {
            "timestamp": at,
            "type": "ExecutionAborted",
            "id": last + 1,
            "previousEventId": last,
            "executionAbortedEventDetails": {"error": CUT_OFF_ERROR, "cause": reason},
        }
    )
    return {**data, "status": "ABORTED", "describe": describe, "list_item": list_item,
            "events": events, "cut_off": False}  # fmt: skip


def started_event(data: dict) -> dict:
    """The ``ExecutionStarted`` event of an execution's record, as Step Functions writes it."""
    return {
        "timestamp": data["describe"]["startDate"],
        "type": "ExecutionStarted",
        "id": 1,
        "previousEventId": 0,
        "executionStartedEventDetails": {
            "input": data["describe"].get("input", "{}"),
            "inputDetails": {"truncated": False},
            "roleArn": data["state_machine"].get("roleArn", ""),
        },
    }


def is_running(data: dict) -> bool:
    return data["status"] == "RUNNING"


def cut_off_unreported(data: dict) -> bool:
    """Whether the execution was cut off and no restore has reported it yet."""
    return data.get("cut_off") is False
