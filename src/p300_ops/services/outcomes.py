"""The output of an ingest execution read as outcomes, grouped as the pipeline groups them.

The groups are the pipeline's own (`p300_aws.planning.summarize`: processed, skipped, rejected,
quarantined, failed; a duplicate is skipped); each item also keeps what to know about it: why
it failed, why it was rejected or quarantined, or where its result is.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from p300_aws.planning import SUMMARY_GROUPS, summarize
from p300_ops.services.execution_history import readable_cause


@dataclass(frozen=True)
class ItemOutcome:
    """One item of an execution: its pipeline ``group``, its own ``outcome`` (e.g. "duplicate"
    in group "skipped") and a readable ``detail``."""

    group: str
    outcome: str
    subject: str | None
    session: str | None
    detail: str


def summarize_output(output: object) -> dict[str, list[dict]] | None:
    """The pipeline's groups of an execution's output: the ones its summary step wrote, or
    `summarize` of its per-item ``results``; None when the output is neither."""
    if not isinstance(output, Mapping):
        return None
    # An output written before the "rejected" group existed has none.
    written = {"rejected": []} | dict(output)
    if all(isinstance(written.get(group), list) for group in SUMMARY_GROUPS):
        return {group: list(written[group]) for group in SUMMARY_GROUPS}
    if _results(output) is not None:
        return summarize(output["results"])
    return None


def item_outcomes(output: object) -> list[ItemOutcome]:
    """One `ItemOutcome` per item, group by group: from the per-item ``results`` when the
    output keeps them (every detail), else from the summary's entries."""
    results = _results(output)
    if results is None:
        summary = summarize_output(output) or {}
        return [
            ItemOutcome(group, group, entry.get("subject"), entry.get("session"),
                        str(entry.get("reason") or entry.get("key") or ""))
            for group, entries in summary.items()
            for entry in entries
        ]  # fmt: skip
    items = [_item_outcome(result) for result in results]
    return sorted(items, key=lambda item: SUMMARY_GROUPS.index(item.group))


def summary_line(summary: Mapping[str, list]) -> str:
    """``processed 3, skipped 0, rejected 0, quarantined 1, failed 0``."""
    return ", ".join(f"{group} {len(items)}" for group, items in summary.items())


def _results(output: object) -> list[Mapping] | None:
    results = output.get("results") if isinstance(output, Mapping) else None
    if isinstance(results, list) and all(isinstance(r, Mapping) for r in results):
        return results
    return None


def _item_outcome(result: Mapping) -> ItemOutcome:
    """The item's group and entry as the pipeline's `summarize` makes them, with its detail."""
    group, (entry,) = next((g, entries) for g, entries in summarize([result]).items() if entries)
    outcome = str(result.get("outcome") or group)
    if group == "failed":
        detail = f"{result.get('error', '')}: {readable_cause(result.get('cause'))}"
    elif group == "quarantined":
        problems = result.get("problems", [])
        detail = "; ".join(f"{p.get('code')}: {p.get('message')}" for p in problems)
    elif group == "rejected":
        detail = f"{result.get('code')}: {result.get('reason')}"
    else:
        detail = str(entry.get("key") or result.get("raw_key") or "")
    return ItemOutcome(group, outcome, entry.get("subject"), entry.get("session"), detail)
