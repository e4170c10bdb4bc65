"""The output of an ingest execution read as outcomes: which subject/session was processed,
skipped, a duplicate, quarantined or failed, and why."""

from collections.abc import Mapping

from rich.table import Table

from p300_ops.commands.history import readable_cause

#: Outcomes in reading order; the contract's summary has lists under the first, fourth, fifth.
OUTCOMES = ("processed", "skipped", "duplicate", "quarantined", "failed")


def summarize_output(output: object) -> dict[str, list[dict]] | None:
    """Items by outcome, from either the summary ``{"processed": [...], "skipped": [...], ...}``
    or the per-item ``{"results": [{"outcome": ...}, ...]}``; None for any other output."""
    if not isinstance(output, Mapping):
        return None
    if isinstance(output.get("results"), list):
        grouped: dict[str, list[dict]] = {outcome: [] for outcome in OUTCOMES}
        for item in output["results"]:
            outcome = item.get("outcome", "unknown") if isinstance(item, Mapping) else "unknown"
            grouped.setdefault(outcome, []).append(item)
        return grouped
    lists = ("processed", "skipped", "quarantined", "failed")
    if all(isinstance(output.get(k), list) for k in lists):
        return {outcome: list(output.get(outcome) or []) for outcome in OUTCOMES}
    return None


def summary_line(summary: Mapping[str, list]) -> str:
    """``processed 3, skipped 0, duplicate 0, quarantined 1, failed 0``."""
    return ", ".join(f"{outcome} {len(items)}" for outcome, items in summary.items())


def items_table(summary: Mapping[str, list]) -> Table:
    """One line per item: subject, session, outcome and what to know about it."""
    table = Table("subject", "session", "outcome", "detail")
    for outcome, items in summary.items():
        for item in items:
            table.add_row(
                str(_field(item, "subject")),
                str(_field(item, "session")),
                outcome,
                _detail(outcome, item),
            )
    return table


def _field(item: Mapping, name: str) -> object:
    """``item[name]``, else the failed item's own ``item[name]``, else "?"."""
    inner = item.get("item") if isinstance(item.get("item"), Mapping) else {}
    return item.get(name) or inner.get(name) or "?"


def _detail(outcome: str, item: Mapping) -> str:
    if outcome == "failed":
        return f"{item.get('error', '')}: {readable_cause(item.get('cause'))}"
    if outcome == "quarantined":
        return "; ".join(f"{p.get('code')}: {p.get('message')}" for p in item.get("problems", []))
    return str(item.get("features_key") or item.get("raw_key") or item.get("landing_key") or "")
