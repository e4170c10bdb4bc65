"""The ASL graph layout: edges from Next/Choices/Default/Catch, layers, nested Map graphs."""

import json

import pytest

from p300_ops import paths
from p300_ops.console.graph import END, START, layout

ASL = paths.REPO / "state_machines"


def _ingest() -> dict:
    return json.loads((ASL / "ingest_and_process.asl.json").read_text())


def _edges(graph) -> set[tuple[str, str, str]]:
    return {(e.source, e.target, e.kind) for e in graph.edges}


def test_the_ingest_machine_is_start_plan_map_summarize_end_top_to_bottom():
    graph = layout(_ingest())
    names = [n.name for n in graph.nodes]
    assert names == [START, "Plan", "ForEachObject", "Summarize", END]
    ys = [n.y for n in graph.nodes]
    assert ys == sorted(ys) and len(set(ys)) == len(ys)
    assert ("Plan", "ForEachObject", "next") in _edges(graph)
    assert ("Summarize", END, "next") in _edges(graph)


def test_a_map_holds_its_iterator_graph_inside_its_box():
    graph = layout(_ingest())
    (mapped,) = [n for n in graph.nodes if n.kind == "Map"]
    (inner,) = mapped.branches
    inner_names = {n.name for n in inner.nodes}
    assert {"IsRawItem", "Ingest", "Preprocess", "CheckDrift", "ItemFailed"} <= inner_names
    assert all(n.id.startswith("ForEachObject/") for n in inner.nodes)
    for node in inner.nodes:
        assert mapped.x <= node.x and node.x + node.width <= mapped.x + mapped.width
        assert mapped.y <= node.y and node.y + node.height <= mapped.y + mapped.height
    kinds = _edges(inner)
    assert ("ForEachObject/Ingest", "ForEachObject/ItemFailed", "catch") in kinds
    assert ("ForEachObject/IsRawItem", "ForEachObject/Preprocess", "choice") in kinds
    assert ("ForEachObject/IsRawItem", "ForEachObject/Ingest", "default") in kinds


def test_every_state_lies_below_the_states_that_lead_to_it():
    inner = layout(_ingest()).nodes[2].branches[0]
    at = {n.name: n.y for n in inner.nodes}
    assert at["IsRawItem"] < at["Ingest"] < at["NeedsProcessing"] < at["Preprocess"]
    assert at["Preprocess"] < at["CheckDrift"] < at[END]
    assert at["ItemFailed"] > at["Preprocess"]  # reached from Ingest and from Preprocess


def test_the_train_machine_lays_out_with_its_trials_map():
    graph = layout(json.loads((ASL / "train.asl.json").read_text()))
    kinds = {n.name: n.kind for n in graph.walk()}
    assert kinds["Train"] == "Task" and kinds["TrainingFailed"] == "Fail"
    assert any(k == "Map" for k in kinds.values())


def test_a_loop_is_drawn_as_a_backward_edge():
    definition = {
        "StartAt": "Wait",
        "States": {
            "Wait": {"Type": "Wait", "Seconds": 1, "Next": "Check"},
            "Check": {"Type": "Choice", "Choices": [{"Variable": "$.done", "BooleanEquals": True,
                                                      "Next": "Done"}], "Default": "Wait"},
            "Done": {"Type": "Succeed"},
        },
    }  # fmt: skip
    graph = layout(definition)
    backward = [(e.source, e.target) for e in graph.edges if e.backward]
    assert backward == [("Check", "Wait")]
    at = {n.name: n.y for n in graph.nodes}
    assert at["Wait"] < at["Check"] < at["Done"]


def test_parallel_branches_sit_side_by_side():
    branch = {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}
    both = {"Type": "Parallel", "End": True, "Branches": [branch, branch]}
    definition = {"StartAt": "Both", "States": {"Both": both}}
    (both,) = [n for n in layout(definition).nodes if n.name == "Both"]
    left, right = (b.nodes[1] for b in both.branches)
    assert (left.id, right.id) == ("Both/0/A", "Both/1/A")
    assert left.y == right.y and left.x + left.width <= right.x


@pytest.mark.parametrize(
    ("definition", "match"),
    [
        ({"States": {}}, "definition must have States and a StartAt naming one of them"),
        ({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}}},
         "state 'A' goes to 'B', which is not a state"),
    ],
)  # fmt: skip
def test_a_malformed_definition_is_refused(definition, match):
    with pytest.raises(ValueError, match=match):
        layout(definition)
