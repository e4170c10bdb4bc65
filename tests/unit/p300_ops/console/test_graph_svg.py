"""The execution graph as SVG: one coloured group per state, the Map's counts, the errors."""

import re

from p300_ops.console import graph_svg
from p300_ops.console.execution_view import NodeState


def _group(svg: str, node_id: str) -> str:
    return re.search(rf'<g class="[^"]*" data-node="{re.escape(node_id)}".*?</g>', svg).group(0)


def test_each_state_is_a_group_in_its_status_colour_class(failed_view):
    svg = graph_svg.render(failed_view)
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    train = _group(svg, "Train")
    assert 'class="state status-failed"' in train
    assert '<text class="err"' in train and ">ValueError<" in train  # the error on the node
    assert 'class="state status-caught"' in _group(svg, "ForEachObject/Ingest")
    assert ">1 succeeded · 1 caught<" in _group(svg, "ForEachObject/Ingest")
    assert "2 iterations: 2 succeeded" in _group(svg, "ForEachObject")
    assert svg.count('class="edge edge-catch"') == 1


def test_node_lines():
    assert graph_svg.node_lines(NodeState()) == ("not run", "")
    done = NodeState("succeeded", [0], {"succeeded": 1}, 1.5)
    assert graph_svg.node_lines(done) == ("succeeded 1.50 s", "")
    failed = NodeState("failed", [0], {"failed": 1}, None, "States.TaskFailed")
    assert graph_svg.node_lines(failed) == ("failed", "States.TaskFailed")


def test_long_text_is_cut_to_the_node():
    assert graph_svg.fit("short", 150) == "short"
    cut = graph_svg.fit("InvalidRecordingError: NOT_PARQUET and more", 150)
    assert cut.endswith("…") and len(cut) == 23


def test_names_are_escaped(failed_view):
    failed_view.graph.nodes[1].name = "<script>"
    assert "<script>" not in graph_svg.render(failed_view)
