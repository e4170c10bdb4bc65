"""Histories recorded from LocalStack 2026.3.0 (get_execution_history of two small machines)."""

import json
from datetime import datetime
from pathlib import Path

import pytest

from p300_ops.services.execution_history import (
    grouped,
    iteration_statuses,
    readable_cause,
    state_runs,
)

DATA = Path(__file__).parent / "data"


def _history(name: str) -> list[dict]:
    events = json.loads((DATA / f"{name}_history.json").read_text())
    for event in events:
        event["timestamp"] = datetime.fromisoformat(event["timestamp"])
    return events


def _table(runs) -> list[tuple]:
    return [(r.name, r.iteration, r.status) for r in runs]


def test_caught_task_failure_in_a_map_and_a_failed_task_after_it():
    runs = state_runs(_history("task_failures"))
    assert _table(grouped(runs)) == [
        ("ForEachObject", None, "succeeded"),
        ("Ingest", 0, "succeeded"),
        ("Ingest", 1, "caught"),
        ("ItemFailed", 1, "succeeded"),
        ("Train", None, "failed"),
    ]
    caught = next(r for r in runs if r.status == "caught")
    assert caught.error == "ValueError"
    assert readable_cause(caught.cause) == "item 2 is bad"
    assert 0 < caught.duration_s < 5
    train = runs[-1]
    assert (train.error, train.duration_s) == ("ValueError", None)


def test_error_in_place_of_output_and_nested_states_by_iteration():
    runs = grouped(state_runs(_history("map_with_caught_item")))
    assert [r.iteration for r in runs] == [None, None, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, None]
    assert _table(runs)[5:9] == [
        ("Work", 1, "caught"),
        ("Check", 1, "succeeded"),
        ("Boom", 1, "failed"),
        ("Caught", 1, "succeeded"),
    ]
    assert (runs[5].error, runs[5].cause) == ("BadItem", "item 2 is bad")


def test_a_history_cut_short_leaves_states_unfinished():
    events = [e for e in _history("task_failures") if e["id"] <= 12]
    runs = state_runs(events)
    assert _table(runs) == [
        ("ForEachObject", None, "unfinished"),
        ("Ingest", 1, "unfinished"),
        ("Ingest", 0, "unfinished"),
    ]


@pytest.mark.parametrize(
    ("cause", "readable"),
    [
        ('{"errorMessage": "no features", "errorType": "X", "stackTrace": []}', "no features"),
        ("plain text", "plain text"),
        ('["json", "but not an error"]', '["json", "but not an error"]'),
        (None, ""),
    ],
)
def test_readable_cause(cause, readable):
    assert readable_cause(cause) == readable


def test_a_retried_attempt_that_then_succeeds_is_a_success_with_its_retry_noted():
    runs = grouped(state_runs(_history("retry_then_success")))
    assert _table(runs) == [
        ("ForEachObject", None, "succeeded"),
        ("Preprocess", 0, "succeeded"),
        ("Preprocess", 1, "caught"),
        ("ItemFailed", 1, "succeeded"),
        ("Summarize", None, "succeeded"),
    ]
    retried = runs[1]
    assert retried.error is None
    assert [(e, readable_cause(c)) for e, c in retried.retried] == [
        ("TransientError", "S3 answered 503 SlowDown")
    ]
    assert runs[2].retried == []


def test_each_state_keeps_its_input_and_output():
    runs = grouped(state_runs(_history("map_with_caught_item")))
    plan = runs[0]
    assert (plan.name, plan.input, plan.output) == ("Plan", "{}", '{"items":[1,2,3]}')
    caught = next(r for r in runs if r.name == "Caught")
    assert json.loads(caught.input) == {"Error": "BadItem", "Cause": "item 2 is bad"}


def test_iteration_statuses_by_map_and_index():
    events = _history("map_with_caught_item")
    assert iteration_statuses(events) == {
        ("ForEach", 0): "succeeded",
        ("ForEach", 1): "succeeded",
        ("ForEach", 2): "succeeded",
    }
    running = [e for e in events if e["id"] <= 30]
    assert iteration_statuses(running) == {
        ("ForEach", 0): "succeeded",
        ("ForEach", 1): "running",
        ("ForEach", 2): "running",
    }
