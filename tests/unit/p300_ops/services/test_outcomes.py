import json
from io import StringIO
from pathlib import Path

from rich.console import Console

from p300_aws.planning import summarize
from p300_ops.commands.executions import items_table
from p300_ops.services.outcomes import item_outcomes, summarize_output, summary_line

DATA = Path(__file__).parent / "data"


def _recorded_output() -> dict:
    """The output of the recorded retry execution: ``{"mode", "results": [...]}``."""
    events = json.loads((DATA / "retry_then_success_history.json").read_text())
    return json.loads(events[-1]["executionSucceededEventDetails"]["output"])


def test_per_item_results_are_grouped_by_outcome():
    summary = summarize_output(_recorded_output())
    assert [item["subject"] for item in summary["processed"]] == ["01"]
    [failed] = summary["failed"]
    assert failed["reason"].startswith("ValueError: ")
    assert summary_line(summary) == "processed 1, skipped 0, rejected 0, quarantined 0, failed 1"


def test_groups_are_the_pipelines_own():
    results = [*_recorded_output()["results"], {"outcome": "duplicate", "subject": "04"}]
    assert summarize_output({"results": results}) == summarize(results)
    assert [entry["subject"] for entry in summarize_output({"results": results})["skipped"]] == [
        "04"
    ]


def test_the_contract_summary_is_read_as_it_is():
    output = {"processed": [{"subject": "01"}], "skipped": [], "quarantined": [], "failed": []}
    summary = summarize_output(output)
    assert summary_line(summary) == "processed 1, skipped 0, rejected 0, quarantined 0, failed 0"
    assert [item.subject for item in item_outcomes(output)] == ["01"]


def test_other_outputs_are_not_summaries():
    assert summarize_output({"run_id": "abc"}) is None
    assert summarize_output([1, 2]) is None
    assert item_outcomes({"run_id": "abc"}) == []


def test_items_table_shows_why_an_item_failed_or_was_rejected_or_quarantined():
    output = {"results": [
        {"outcome": "quarantined", "subject": "03", "session": "01",
         "problems": [{"code": "MISSING_STIM", "message": "no stim column"}]},
        {"outcome": "rejected", "study": "speller", "subject": "06", "session": "01",
         "code": "ALL_EPOCHS_REJECTED", "reason": "rejection policy fixed 100 µV kept 0 of 720",
         "rejection_key": "study=speller/subject=06/session=01/rejection.json"},
        {"outcome": "duplicate", "subject": "05", "session": "01", "landing_key": "subject_05/a"},
        *_recorded_output()["results"],
    ]}  # fmt: skip
    out = StringIO()
    Console(file=out, width=160).print(items_table(item_outcomes(output)))
    text = out.getvalue()
    assert "MISSING_STIM: no stim column" in text
    assert "ALL_EPOCHS_REJECTED: rejection policy fixed 100 µV kept 0 of 720" in text
    assert "ValueError: subject 02 has no stim column" in text
    assert "skipped (duplicate)" in text and "subject_05/a" in text
    groups = [item.group for item in item_outcomes(output)]
    assert groups == ["processed", "skipped", "rejected", "quarantined", "failed"]
