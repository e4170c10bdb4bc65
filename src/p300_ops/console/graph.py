"""A state machine's ASL definition laid out as a graph: layered, top to bottom, like the Step
Functions console draws it.

Each state is a node; ``Next``, ``Default``, each Choice rule's ``Next`` and each ``Catch``'s
``Next`` are edges. A Map's iterator (``ItemProcessor`` or ``Iterator``) and a Parallel's branches
are graphs of their own, drawn inside their state's box. Layers come from the longest path from
the start along forward edges (an edge back to a state already on the path, a loop, is drawn on
the side), and the nodes of a layer keep the order in which they were first reached.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

START, END = "^start", "^end"
NODE_HEIGHT = 58.0
MARKER_SIZE = 22.0
LAYER_GAP, NODE_GAP, PADDING, HEADER = 40.0, 24.0, 14.0, 30.0
MIN_WIDTH, CHAR_WIDTH = 176.0, 7.6
#: Edge kinds: the state's ``Next``/``End``, a Choice rule, a Choice default, a Catch.
EDGE_KINDS = ("next", "choice", "default", "catch")


@dataclass
class Node:
    """One state (or the start/end marker), placed at (x, y) of its graph, sizes in px.

    ``id`` is the path of state names from the top graph ("ForEachObject/Preprocess"), unique
    even where nested graphs reuse a name; ``branches`` are the graphs inside a Map (one) or a
    Parallel (one per branch)."""

    id: str
    name: str
    kind: str
    x: float = 0.0
    y: float = 0.0
    width: float = MIN_WIDTH
    height: float = NODE_HEIGHT
    branches: list["Graph"] = field(default_factory=list)
    #: where the state puts its result in its output (ASL ``ResultPath``; "$" by default)
    result_path: str = "$"

    @property
    def is_marker(self) -> bool:
        return self.name in (START, END)


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    kind: str
    #: a loop back to an earlier layer, drawn along the right side
    backward: bool = False


@dataclass
class Graph:
    nodes: list[Node]
    edges: list[Edge]
    width: float = 0.0
    height: float = 0.0

    def node(self, node_id: str) -> Node:
        return next(n for n in self.nodes if n.id == node_id)

    def walk(self):
        """Every node of this graph and of the graphs inside it, outer first."""
        for node in self.nodes:
            yield node
            for branch in node.branches:
                yield from branch.walk()


def layout(definition: Mapping, *, prefix: str = "") -> Graph:
    """The graph of an ASL ``definition`` (``StartAt`` and ``States``), laid out.

    Raises
    ------
    ValueError
        When ``definition`` has no ``StartAt``/``States`` or an edge names an unknown state.
    """
    states = definition.get("States")
    if not isinstance(states, Mapping) or definition.get("StartAt") not in states:
        raise ValueError(
            "definition must have States and a StartAt naming one of them, got StartAt "
            f"{definition.get('StartAt')!r} and states {sorted(states or {})}"
        )
    nodes = {START: Node(prefix + START, START, "Start", width=MARKER_SIZE, height=MARKER_SIZE)}
    for name, state in states.items():
        nodes[name] = _state_node(prefix + name, name, state)
    nodes[END] = Node(prefix + END, END, "End", width=MARKER_SIZE, height=MARKER_SIZE)
    targets = {START: [(definition["StartAt"], "next")]}
    for name, state in states.items():
        targets[name] = _transitions(name, state, states)
    order, back = _depth_first(targets)
    layers = _layers(order, targets, back)
    graph = Graph(
        [nodes[name] for name in order],
        [
            Edge(nodes[source].id, nodes[target].id, kind, (source, target) in back)
            for source in order
            for target, kind in targets.get(source, [])
        ],
    )
    _place(graph, [[nodes[name] for name in layer] for layer in layers])
    return graph


def _state_node(node_id: str, name: str, state: Mapping) -> Node:
    kind = state.get("Type", "?")
    node = Node(node_id, name, kind, width=max(MIN_WIDTH, CHAR_WIDTH * len(name) + 40))
    node.result_path = state.get("ResultPath") or "$"
    if kind == "Map":
        inner = state.get("ItemProcessor") or state.get("Iterator")
        node.branches = [layout(inner, prefix=f"{node_id}/")] if inner else []
    elif kind == "Parallel":
        node.branches = [
            layout(branch, prefix=f"{node_id}/{index}/")
            for index, branch in enumerate(state.get("Branches", []))
        ]
    if node.branches:
        node.width = max(
            node.width,
            sum(b.width for b in node.branches) + NODE_GAP * (len(node.branches) - 1) + 2 * PADDING,
        )
        node.height = HEADER + max(b.height for b in node.branches) + PADDING
    return node


def _transitions(name: str, state: Mapping, states: Mapping) -> list[tuple[str, str]]:
    """The states ``state`` can go to next, with the kind of each edge."""
    found = [(rule["Next"], "choice") for rule in state.get("Choices", []) if "Next" in rule]
    if "Default" in state:
        found.append((state["Default"], "default"))
    if "Next" in state:
        found.append((state["Next"], "next"))
    found += [(catcher["Next"], "catch") for catcher in state.get("Catch", [])]
    if state.get("End") or state.get("Type") in ("Succeed", "Fail"):
        found.append((END, "next"))
    for target, _ in found:
        if target != END and target not in states:
            raise ValueError(f"state {name!r} goes to {target!r}, which is not a state")
    return list(dict.fromkeys(found))


def _depth_first(targets: Mapping[str, list]) -> tuple[list[str], set[tuple[str, str]]]:
    """Every node in the order first reached from the start (unreachable states last, end
    marker at the very end), and the edges that go back to a node still on the path."""
    order, back, on_path = [], set(), set()

    def visit(name: str) -> None:
        order.append(name)
        on_path.add(name)
        for target, _ in targets.get(name, []):
            if target in on_path:
                back.add((name, target))
            elif target not in order and target != END:
                visit(target)
        on_path.discard(name)

    for name in targets:
        if name not in order:
            visit(name)
    return [*order, END], back


def _layers(order: list[str], targets: Mapping[str, list], back: set) -> list[list[str]]:
    """Nodes by layer: each one below every node with a forward edge to it; end at the bottom."""
    layer = dict.fromkeys(order, 0)
    for _ in order:  # longest path by relaxation: at most len(order) rounds on a DAG
        changed = False
        for source in order:
            for target, _kind in targets.get(source, []):
                if (source, target) not in back and layer[target] < layer[source] + 1:
                    layer[target], changed = layer[source] + 1, True
        if not changed:
            break
    layer[END] = max(layer[name] for name in order if name != END) + 1
    rows: list[list[str]] = [[] for _ in range(layer[END] + 1)]
    for name in order:
        rows[layer[name]].append(name)
    return [row for row in rows if row]


def _place(graph: Graph, rows: list[list[Node]]) -> None:
    """Rows top to bottom, each centred; the graph's size from what it holds."""
    widths = [sum(n.width for n in row) + NODE_GAP * (len(row) - 1) for row in rows]
    graph.width = max(widths) + 2 * PADDING
    y = PADDING
    for row, width in zip(rows, widths, strict=True):
        x = (graph.width - width) / 2
        height = max(n.height for n in row)
        for node in row:
            node.x, node.y = x, y + (height - node.height) / 2
            x += node.width + NODE_GAP
        y += height + LAYER_GAP
    graph.height = y - LAYER_GAP + PADDING
    for node in graph.nodes:
        offset = PADDING + (node.width - 2 * PADDING - _branches_width(node)) / 2
        for branch in node.branches:
            _shift(branch, node.x + offset, node.y + HEADER)
            offset += branch.width + NODE_GAP


def _branches_width(node: Node) -> float:
    return sum(b.width for b in node.branches) + NODE_GAP * max(len(node.branches) - 1, 0)


def _shift(graph: Graph, dx: float, dy: float) -> None:
    """Move a nested graph (laid out from 0, 0) into its container, at (dx, dy)."""
    for node in graph.walk():
        node.x += dx
        node.y += dy
