"""Step Functions execution histories read as the states that ran: one entry per state entered
(per Map iteration), with its status, times and error.

Events link to the event before them in the same branch (``previousEventId``); states inside a
Map iteration are found by following those links back to the iteration's start.
"""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

#: Events that close the Map-iteration context: states after them belong to no iteration.
_LEAVES_ITERATION = {
    "ExecutionStarted",
    "MapStateEntered",
    "MapStateStarted",
    "MapStateSucceeded",
    "MapStateFailed",
    "MapStateAborted",
    "MapStateExited",
    "MapIterationSucceeded",
    "MapIterationFailed",
    "MapIterationAborted",
}
#: Events saying a task attempt succeeded: an earlier failed attempt was retried.
_ATTEMPT_SUCCEEDED = {"TaskSucceeded", "LambdaFunctionSucceeded", "ActivitySucceeded"}


@dataclass
class StateRun:
    """One state entered once; ``iteration`` is the Map iteration index (None outside a Map),
    ``kind`` the state type ("Task", "Map", "Pass", "Fail", ...)."""

    name: str
    kind: str
    iteration: int | None
    entered: datetime
    exited: datetime | None = None
    error: str | None = None
    cause: str | None = None
    #: (error, cause) of each failed attempt that a retry then replaced
    retried: list[tuple[str, str]] = field(default_factory=list)
    #: the state's input and output as the history gives them (JSON text; None when absent)
    input: str | None = None
    output: str | None = None

    @property
    def status(self) -> str:
        """ "succeeded", "caught" (failed, then left through a Catch), "failed" or "unfinished"."""
        if self.error is not None:
            return "caught" if self.exited is not None else "failed"
        if self.kind == "Fail":
            return "failed"
        return "succeeded" if self.exited is not None else "unfinished"

    @property
    def duration_s(self) -> float | None:
        return None if self.exited is None else (self.exited - self.entered).total_seconds()


def state_runs(events: Sequence[Mapping]) -> list[StateRun]:
    """The states of an execution history (``get_execution_history``'s ``events``), in the order
    they were entered; a failure event's error and cause go to the state it happened in."""
    by_id = {event["id"]: event for event in events}
    runs: list[StateRun] = []
    open_runs: dict[tuple[int | None, str], StateRun] = {}
    for event in sorted(events, key=lambda e: e["id"]):
        kind = event["type"]
        if kind.endswith("StateEntered"):
            run = StateRun(
                event["stateEnteredEventDetails"]["name"],
                kind.removesuffix("StateEntered"),
                _iteration(event, by_id),
                event["timestamp"],
                input=event["stateEnteredEventDetails"].get("input"),
            )
            runs.append(run)
            open_runs[run.iteration, run.name] = run
        elif kind.endswith("StateExited"):
            key = (_iteration(event, by_id), event["stateExitedEventDetails"]["name"])
            if key in open_runs:
                run = open_runs.pop(key)
                run.exited = event["timestamp"]
                run.output = event["stateExitedEventDetails"].get("output")
                if run.error is None:
                    run.error, run.cause = _caught_error(event["stateExitedEventDetails"])
        elif kind != "ExecutionFailed" and _failure(event):
            run = _enclosing_run(event, by_id, open_runs) or (runs[-1] if runs else None)
            if run is not None:
                if run.error is not None:
                    run.retried.append((run.error, run.cause))
                run.error, run.cause = _failure(event)
        elif kind in _ATTEMPT_SUCCEEDED:
            run = _enclosing_run(event, by_id, open_runs)
            if run is not None and run.error is not None:
                run.retried.append((run.error, run.cause))
                run.error = run.cause = None
    return runs


def _caught_error(details: Mapping) -> tuple[str | None, str | None]:
    """The error a Catch without ResultPath puts in place of a state's output."""
    try:
        output = json.loads(details.get("output") or "null")
    except ValueError:
        return None, None
    if isinstance(output, dict) and set(output) == {"Error", "Cause"}:
        return output["Error"], output["Cause"]
    return None, None


def readable_cause(cause: str | None) -> str:
    """The message of a Lambda error's cause (JSON with errorType/errorMessage/stackTrace)."""
    try:
        doc = json.loads(cause or "")
    except ValueError:
        return cause or ""
    if isinstance(doc, dict) and "errorMessage" in doc:
        return str(doc["errorMessage"])
    return cause or ""


def _failure(event: Mapping) -> tuple[str, str] | None:
    for name, details in event.items():
        if name.endswith(("FailedEventDetails", "TimedOutEventDetails")) and "error" in details:
            return details.get("error", ""), details.get("cause", "")
    return None


def _ancestors(event: Mapping, by_id: Mapping[int, Mapping]):
    """The events before ``event`` along ``previousEventId`` links, nearest first."""
    previous = by_id.get(event.get("previousEventId"))
    while previous is not None:
        yield previous
        previous = by_id.get(previous.get("previousEventId"))


def _iteration(event: Mapping, by_id: Mapping[int, Mapping]) -> int | None:
    for ancestor in _ancestors(event, by_id):
        if ancestor["type"] == "MapIterationStarted":
            return ancestor["mapIterationStartedEventDetails"]["index"]
        if ancestor["type"] in _LEAVES_ITERATION:
            return None
    return None


def _enclosing_run(
    event: Mapping, by_id: Mapping[int, Mapping], open_runs: Mapping[tuple, StateRun]
) -> StateRun | None:
    for ancestor in _ancestors(event, by_id):
        if ancestor["type"].endswith("StateEntered"):
            name = ancestor["stateEnteredEventDetails"]["name"]
            return open_runs.get((_iteration(ancestor, by_id), name))
    return None


#: Map iteration events → the iteration's status.
_ITERATION_STATUS = {
    "MapIterationStarted": "running",
    "MapIterationSucceeded": "succeeded",
    "MapIterationFailed": "failed",
    "MapIterationAborted": "aborted",
}


def iteration_statuses(events: Sequence[Mapping]) -> dict[tuple[str, int], str]:
    """``(Map state name, iteration index) → status`` ("running", "succeeded", "failed" or
    "aborted") from the Map iteration events of a history."""
    statuses: dict[tuple[str, int], str] = {}
    for event in sorted(events, key=lambda e: e["id"]):
        status = _ITERATION_STATUS.get(event["type"])
        if status is not None:
            details = next(v for k, v in event.items() if k.startswith("mapIteration"))
            statuses[details["name"], int(details["index"])] = status
    return statuses


def grouped(runs: Sequence[StateRun]) -> list[StateRun]:
    """``runs`` for reading: top-level states in order, each Map followed by its iterations'
    states, iteration by iteration."""
    inner = [run for run in runs if run.iteration is not None]
    ordered = []
    for run in runs:
        if run.iteration is not None:
            continue
        ordered.append(run)
        if run.kind == "Map":
            mine = [r for r in inner if _within(r, run)]
            ordered += sorted(mine, key=lambda r: (r.iteration, r.entered))
            inner = [r for r in inner if r not in mine]
    return ordered + inner


def _within(run: StateRun, outer: StateRun) -> bool:
    return outer.entered <= run.entered and (outer.exited is None or run.entered <= outer.exited)
