"""One execution as the console shows it: each node of the state machine's graph with the status
of its runs, and each Map's iterations with their status, outcome and path.

Built from `pipeline_executions.ExecutionDetails` (the same reading of the history that `p300
executions show` prints) and the graph of the execution's ASL definition.
"""

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from p300_ops.console.graph import Graph, Node
from p300_ops.services.execution_history import StateRun
from p300_ops.services.pipeline_executions import ExecutionDetails

#: Statuses a node is drawn in; when several runs of a state differ, the first one listed wins.
NODE_STATUSES = ("running", "failed", "caught", "aborted", "succeeded", "not-run")
#: The order counts by status are listed in.
COUNT_ORDER = ("succeeded", "caught", "failed", "running", "aborted")
#: `StateRun.status` → the node status it is drawn as.
RUN_STATUS = {"unfinished": "running"}
#: Keys of a Map item's input that name it, first found first.
ITEM_LABEL_KEYS = ("key", "raw_key", "subject", "trial", "name")


@dataclass
class NodeState:
    """What a graph node shows: its status, the runs behind it (indices into the execution's
    `StateRun` list) and their counts by status."""

    status: str = "not-run"
    runs: list[int] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    duration_s: float | None = None
    error: str | None = None


@dataclass
class Iteration:
    """One Map iteration: its status, the item's outcome where its result says (ingest:
    processed, quarantined, failed...), a label from its input, and its path: node id → run."""

    index: int
    status: str
    outcome: str | None
    label: str
    path: dict[str, int] = field(default_factory=dict)


@dataclass
class MapView:
    node_id: str
    iterations: list[Iteration]

    @property
    def status_counts(self) -> dict[str, int]:
        return ordered_counts(i.status for i in self.iterations)

    @property
    def outcome_counts(self) -> dict[str, int]:
        return dict(Counter(i.outcome for i in self.iterations if i.outcome))


@dataclass
class ExecutionView:
    details: ExecutionDetails
    graph: Graph
    nodes: dict[str, NodeState]
    maps: dict[str, MapView]

    @property
    def runs(self) -> list[StateRun]:
        return self.details.runs


def ordered_counts(statuses) -> dict[str, int]:
    """How many of each status, in `COUNT_ORDER` (others after, as met)."""
    counted = Counter(statuses)
    order = [s for s in COUNT_ORDER if s in counted] + [s for s in counted if s not in COUNT_ORDER]
    return {status: counted[status] for status in order}


def node_status(statuses: Sequence[str]) -> str:
    """The status a node with runs of these ``statuses`` is drawn in (`NODE_STATUSES` order)."""
    present = {RUN_STATUS.get(s, s) for s in statuses}
    return next((s for s in NODE_STATUSES if s in present), "not-run")


def execution_view(details: ExecutionDetails, graph: Graph) -> ExecutionView:
    """Every node's state (Map iterations pooled) and every Map's iterations."""
    ids = _ids_by_name(graph)
    nodes = {node.id: NodeState() for node in graph.walk() if not node.is_marker}
    iteration_runs: dict[tuple[str, int], dict[str, int]] = {}
    for index, run in enumerate(details.runs):
        node_id = ids.get(run.name)
        if node_id is None:
            continue  # a state of another definition (the machine was updated since)
        nodes[node_id].runs.append(index)
        if run.iteration is not None:
            map_id = _enclosing_map(graph, node_id)
            iteration_runs.setdefault((map_id, run.iteration), {})[node_id] = index
    for state in nodes.values():
        _summarize(state, details.runs)
    maps = {}
    for node in graph.walk():
        if node.kind == "Map":
            maps[node.id] = _map_view(node, details, iteration_runs)
    return ExecutionView(details, graph, nodes, maps)


def _summarize(state: NodeState, runs: Sequence[StateRun]) -> None:
    mine = [runs[i] for i in state.runs]
    statuses = [RUN_STATUS.get(r.status, r.status) for r in mine]
    state.counts = ordered_counts(statuses)
    state.status = node_status(statuses)
    if len(mine) == 1:
        state.duration_s = mine[0].duration_s
    state.error = next((r.error for r in mine if r.error), None)


def _map_view(node: Node, details: ExecutionDetails, iteration_runs) -> MapView:
    results = _iteration_results(node, details)
    indices = {i for (name, i) in details.iterations if name == node.name}
    indices |= {i for (map_id, i) in iteration_runs if map_id == node.id}
    iterations = []
    for index in sorted(indices):
        path = dict(sorted(iteration_runs.get((node.id, index), {}).items(), key=lambda kv: kv[1]))
        status = details.iterations.get((node.name, index)) or _status_from_path(path, details)
        result = results[index] if results and index < len(results) else None
        first = details.runs[next(iter(path.values()))] if path else None
        iterations.append(
            Iteration(index, status, _outcome(result), _label(first.input if first else None), path)
        )
    return MapView(node.id, iterations)


def _status_from_path(path: Mapping[str, int], details: ExecutionDetails) -> str:
    """An iteration's status when the history has no iteration events for it."""
    return node_status([details.runs[i].status for i in path.values()])


def _iteration_results(node: Node, details: ExecutionDetails) -> list | None:
    """Each iteration's result, from the Map's output: the list itself, or the list its
    ResultPath put in the state's output; the execution's per-item ``results`` otherwise."""
    map_runs = [r for r in details.runs if r.name == node.name and r.iteration is None]
    output = _json(map_runs[-1].output) if map_runs and map_runs[-1].output else None
    for field_name in node.result_path.removeprefix("$").split(".")[1:]:
        output = output.get(field_name) if isinstance(output, dict) else None
    if isinstance(output, list):
        return output
    final = details.described.get("output")
    return final.get("results") if isinstance(final, dict) else None


def _outcome(result: object) -> str | None:
    if isinstance(result, dict):
        return str(result["outcome"]) if "outcome" in result else None
    return None


def _label(text: str | None) -> str:
    item = _json(text) if text else None
    if isinstance(item, dict):
        item = item.get("item", item)  # a failed item's input keeps the item under "item"
        for key in ITEM_LABEL_KEYS:
            if item.get(key) not in (None, ""):
                return str(item[key])
    return "" if item is None else json.dumps(item)[:60]


def _json(text: str) -> object:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None


def _ids_by_name(graph: Graph) -> dict[str, str]:
    """State name → node id; the outermost node where nested graphs reuse a name."""
    ids: dict[str, str] = {}
    for node in graph.walk():
        if not node.is_marker:
            ids.setdefault(node.name, node.id)
    return ids


def _enclosing_map(graph: Graph, node_id: str) -> str:
    """The id of the innermost Map whose iterator holds ``node_id``."""
    maps = [n.id for n in graph.walk() if n.kind == "Map" and node_id.startswith(n.id + "/")]
    return max(maps, key=len) if maps else ""
