"""The laid-out graph of an execution as inline SVG: one ``<g class="state status-…">`` per state
(the stylesheet colours them), arrows for the edges, Map and Parallel states as boxes around
their inner graph. The page's script finds nodes by ``data-node`` (their id)."""

from collections.abc import Mapping
from html import escape

from p300_ops.console.execution_view import RUN_STATUS, ExecutionView, MapView, NodeState
from p300_ops.console.graph import HEADER, Edge, Graph, Node
from p300_ops.services.execution_history import StateRun
from p300_ops.services.formatting import format_duration

#: Text after a status count on a node, e.g. "3 succeeded · 1 caught".
SEPARATOR = " · "
#: Average width of a character of a node's text, px (the stylesheet's 11-12 px sans-serif).
CHAR_PX = 6.0


def render(view: ExecutionView) -> str:
    graph = view.graph
    body = "".join(_graph(graph, view))
    return (
        f'<svg class="graph" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'aria-label="state machine graph" width="{graph.width:.0f}" '
        f'height="{graph.height:.0f}" viewBox="0 0 {graph.width:.0f} {graph.height:.0f}">'
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z"/></marker>'
        f"</defs>{body}</svg>"
    )


def counts_text(counts: Mapping[str, int]) -> str:
    """``{"succeeded": 3, "caught": 1}`` → ``3 succeeded · 1 caught``."""
    return SEPARATOR.join(f"{n} {status}" for status, n in counts.items() if n)


def run_lines(run: StateRun) -> tuple[str, str]:
    """The status line of a node showing one run (status, duration) and its error."""
    status = RUN_STATUS.get(run.status, run.status)
    line = f"{status} {format_duration(run.duration_s)}" if run.duration_s is not None else status
    return line, run.error or ""


def node_lines(state: NodeState) -> tuple[str, str]:
    """The status line of a node (its status and duration, or the counts of its runs when it ran
    more than once: Map iterations) and the error it raised."""
    if len(state.runs) > 1:
        line = counts_text(state.counts)
    elif state.status == "not-run":
        line = "not run"
    elif state.duration_s is None:
        line = state.status
    else:
        line = f"{state.status} {format_duration(state.duration_s)}"
    return line, state.error or ""


def fit(text: str, width: float) -> str:
    """``text`` cut with an ellipsis to what fits a node ``width`` px wide."""
    room = max(int((width - 12) / CHAR_PX), 4)
    return text if len(text) <= room else text[: room - 1] + "…"


def _graph(graph: Graph, view: ExecutionView):
    nodes = {node.id: node for node in graph.nodes}
    for edge in graph.edges:
        yield _edge(edge, nodes[edge.source], nodes[edge.target])
    for node in graph.nodes:
        yield _node(node, view)
        for branch in node.branches:
            yield from _graph(branch, view)


def _node(node: Node, view: ExecutionView) -> str:
    if node.is_marker:
        radius = node.width / 2
        kind = "start" if node.kind == "Start" else "end"
        return (
            f'<circle class="marker marker-{kind}" cx="{node.x + radius:.1f}" '
            f'cy="{node.y + radius:.1f}" r="{radius:.1f}"/>'
        )
    state = view.nodes[node.id]
    x, y, w, h = node.x, node.y, node.width, node.height
    container = " container" if node.branches else ""
    line, error = node_lines(state)
    map_view = view.maps.get(node.id)
    if map_view is not None:
        line = _map_line(map_view) or line
    if node.branches:  # the box holds a graph: two lines at its top
        texts = [
            ("name", node.name, y + 13),
            ("sub", f"{line}: {error}" if error else line, y + 26),
        ]
    else:
        texts = [("name", node.name, y + 17), ("sub", line, y + 33), ("err", error, y + 48)]
    title = f"{node.kind} {node.name}: {line}" + (f": {error}" if error else "")
    return (
        f'<g class="state status-{state.status}{container}" data-node="{escape(node.id)}" '
        f'data-name="{escape(node.name)}" data-status="{state.status}" data-width="{w:.0f}" '
        f'tabindex="0"><title>{escape(title)}</title>'
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="6"/>'
        + "".join(
            f'<text class="{kind}" x="{x + w / 2:.1f}" y="{ty:.1f}">{escape(fit(text, w))}</text>'
            for kind, text, ty in texts
        )
        + "</g>"
    )


def _map_line(map_view: MapView) -> str:
    n = len(map_view.iterations)
    if not n:
        return ""
    by_outcome = counts_text(map_view.outcome_counts)
    return f"{n} iterations: " + (by_outcome or counts_text(map_view.status_counts))


def _edge(edge: Edge, source: Node, target: Node) -> str:
    sx, sy = source.x + source.width / 2, source.y + source.height
    tx, ty = target.x + target.width / 2, target.y
    if edge.backward:
        sx, sy = source.x + source.width, source.y + source.height / 2
        tx, ty = target.x + target.width, target.y + min(target.height / 2, HEADER / 2)
        bulge = max(sx, tx) + 50
        path = f"M{sx:.1f},{sy:.1f} C{bulge:.1f},{sy:.1f} {bulge:.1f},{ty:.1f} {tx:.1f},{ty:.1f}"
    else:
        mid = (sy + ty) / 2
        path = f"M{sx:.1f},{sy:.1f} C{sx:.1f},{mid:.1f} {tx:.1f},{mid:.1f} {tx:.1f},{ty:.1f}"
    return (
        f'<path class="edge edge-{edge.kind}" d="{path}" marker-end="url(#arrow)" '
        f'data-source="{escape(edge.source)}" data-target="{escape(edge.target)}"/>'
    )
