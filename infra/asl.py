"""The state machines' ASL as deployed: the files in ``state_machines/`` with their retriers put in.

The ASL files are the source reviewers read. A retry policy shared by many tasks is written once,
in ``state_machines/retry_policies.json``, and a task names it as ``"${Name}"`` in its ``Retry``
list; `load_definition` replaces each name with the retrier (its ``Comment`` dropped: ASL has
none in retriers) before CDK substitutes the function ARNs.
"""

import json
import re
from pathlib import Path
from typing import Any

STATE_MACHINES_DIR = Path(__file__).resolve().parents[1] / "state_machines"
RETRY_POLICIES_FILE = STATE_MACHINES_DIR / "retry_policies.json"
_MARKER = re.compile(r"\$\{(\w+)\}")


def retry_policies(path: Path = RETRY_POLICIES_FILE) -> dict[str, dict]:
    """Name → retrier, from the policies file."""
    document = json.loads(path.read_text())
    return {
        name: {key: value for key, value in retrier.items() if key != "Comment"}
        for name, retrier in document.items()
        if name != "Comment"
    }


def load_definition(path: Path, *, policies: dict[str, dict] | None = None) -> dict:
    """The ASL document at ``path`` with every named retrier put in."""
    return expand_retries(json.loads(path.read_text()), retry_policies() if policies is None
                          else policies, where=path.name)  # fmt: skip


def expand_retries(node: Any, policies: dict[str, dict], *, where: str = "definition") -> Any:
    """``node`` with each ``"${Name}"`` item of a ``Retry`` list replaced by ``policies[Name]``.

    Raises
    ------
    ValueError
        For a name ``policies`` does not define.
    """
    if isinstance(node, list):
        return [expand_retries(item, policies, where=where) for item in node]
    if not isinstance(node, dict):
        return node
    expanded = {key: expand_retries(value, policies, where=where) for key, value in node.items()}
    if isinstance(node.get("Retry"), list):
        expanded["Retry"] = [_retrier(item, policies, where) for item in node["Retry"]]
    return expanded


def _retrier(item: Any, policies: dict[str, dict], where: str) -> Any:
    if not isinstance(item, str):
        return item
    match = _MARKER.fullmatch(item)
    if match is None or match.group(1) not in policies:
        raise ValueError(
            f"{where}: a Retry item must be a retrier or one of "
            f"{[f'${{{name}}}' for name in policies]}, got {item!r}"
        )
    return dict(policies[match.group(1)])
