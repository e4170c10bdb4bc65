"""An execution's nodes and Map iterations as the console draws them."""

import pytest

from p300_ops.console.execution_view import execution_view, node_status
from p300_ops.console.graph import layout
from tests.unit.p300_ops.console.conftest import TASK_FAILURES, details, history


@pytest.mark.parametrize(
    ("statuses", "drawn"),
    [
        ([], "not-run"),
        (["succeeded"], "succeeded"),
        (["succeeded", "caught"], "caught"),
        (["caught", "failed"], "failed"),
        (["unfinished", "failed"], "running"),
    ],
)
def test_a_node_is_drawn_in_its_most_telling_status(statuses, drawn):
    assert node_status(statuses) == drawn


def test_the_failed_task_and_the_caught_item(failed_view):
    nodes = failed_view.nodes
    assert nodes["Train"].status == "failed"
    assert nodes["Train"].error == "ValueError"
    assert nodes["ForEachObject"].status == "succeeded"
    # Ingest ran twice (one per iteration): pooled, the caught one shows
    assert nodes["ForEachObject/Ingest"].counts == {"succeeded": 1, "caught": 1}
    assert nodes["ForEachObject/Ingest"].status == "caught"
    assert nodes["ForEachObject/ItemFailed"].counts == {"succeeded": 1}


def test_each_iteration_has_its_status_and_path(failed_view):
    (map_view,) = failed_view.maps.values()
    assert [(i.index, i.status) for i in map_view.iterations] == [
        (0, "succeeded"),
        (1, "succeeded"),
    ]
    first, second = map_view.iterations
    runs = failed_view.runs
    assert [runs[r].name for r in first.path.values()] == ["Ingest"]
    assert [runs[r].name for r in second.path.values()] == ["Ingest", "ItemFailed"]
    assert runs[second.path["ForEachObject/Ingest"]].status == "caught"
    assert map_view.status_counts == {"succeeded": 2}


def test_a_running_execution_shows_running_states_and_iterations():
    view = execution_view(details(history("task_failures", until=12)), layout(TASK_FAILURES))
    assert view.nodes["ForEachObject"].status == "running"
    assert view.nodes["ForEachObject/Ingest"].status == "running"
    assert view.nodes["Train"].status == "not-run"
    (map_view,) = view.maps.values()
    assert map_view.status_counts == {"running": 2}


def test_iteration_outcomes_come_from_the_maps_result_path():
    iterator = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    mapped = {"Type": "Map", "ResultPath": "$.results", "End": True, "ItemProcessor": iterator}
    definition = {"StartAt": "M", "States": {"M": mapped}}
    t0 = history("task_failures")[0]["timestamp"]
    output = ('{"items": [1, 2], "results": [{"outcome": "processed", "key": "a"}, '
              '{"outcome": "quarantined", "key": "b"}]}')  # fmt: skip
    events = [
        {"id": 1, "type": "ExecutionStarted", "timestamp": t0},
        {"id": 2, "previousEventId": 1, "type": "MapStateEntered", "timestamp": t0,
         "stateEnteredEventDetails": {"name": "M", "input": "{}"}},
        *[e for i in (0, 1) for e in (
            {"id": 3 + 3 * i, "previousEventId": 2, "type": "MapIterationStarted", "timestamp": t0,
             "mapIterationStartedEventDetails": {"name": "M", "index": i}},
            {"id": 4 + 3 * i, "previousEventId": 3 + 3 * i, "type": "PassStateEntered",
             "timestamp": t0, "stateEnteredEventDetails": {"name": "P",
                                                           "input": f'{{"key": "k{i}"}}'}},
            {"id": 5 + 3 * i, "previousEventId": 4 + 3 * i, "type": "PassStateExited",
             "timestamp": t0, "stateExitedEventDetails": {"name": "P", "output": "{}"}})],
        {"id": 9, "previousEventId": 8, "type": "MapStateSucceeded", "timestamp": t0},
        {"id": 10, "previousEventId": 9, "type": "MapStateExited", "timestamp": t0,
         "stateExitedEventDetails": {"name": "M", "output": output}},
    ]  # fmt: skip
    view = execution_view(details(events, status="SUCCEEDED"), layout(definition))
    (map_view,) = view.maps.values()
    assert [(i.label, i.outcome) for i in map_view.iterations] == [
        ("k0", "processed"),
        ("k1", "quarantined"),
    ]
    assert map_view.outcome_counts == {"processed": 1, "quarantined": 1}
