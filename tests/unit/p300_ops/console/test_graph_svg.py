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
    assert "failed: ValueError" in train  # the error on the node itself
    assert 'class="state status-caught"' in _group(svg, "ForEachObject/Ingest")
    assert "1 succeeded · 1 caught" in _group(svg, "ForEachObject/Ingest")
    assert "2 iterations: 2 succeeded" in _group(svg, "ForEachObject")
    assert svg.count('class="edge edge-catch"') == 1


def test_node_sublines():
    assert graph_svg.node_subline(NodeState()) == "not run"
    assert graph_svg.node_subline(NodeState("succeeded", [0], {"succeeded": 1}, 1.5)) == (
        "succeeded 1.50 s"
    )
    running = NodeState("running", [0], {"running": 1}, None)
    assert graph_svg.node_subline(running) == "running"


def test_names_are_escaped(failed_view):
    failed_view.graph.nodes[1].name = "<script>"
    assert "<script>" not in graph_svg.render(failed_view)
