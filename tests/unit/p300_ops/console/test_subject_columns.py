"""The subjects table's columns: one line each, optional ones only when some row has a value."""

from p300_ops.console.subject_columns import SUBJECT_COLUMNS, shown_columns
from p300_ops.services.subject_features import EpochCounts
from p300_ops.services.subject_status import Quarantined, SubjectStatus

COUNTS = EpochCounts(120, 110, 10, 20, 90, {"amplitude": 9, "edge": 1}, version_id="v3abc")


def _values(status, counts) -> dict[str, str]:
    return {
        c.key: c.value(status, counts) for c in shown_columns(SUBJECT_COLUMNS, [(status, counts)])
    }


def test_a_processed_session_shows_versions_and_epochs():
    status = SubjectStatus(
        "speller-2026", "03", "01", "processed",
        raw_key="study=speller-2026/subject=03/session=01/eeg.parquet",
        raw_version_id="rv1", raw_sha256="ab" * 32, features="up to date",
    )  # fmt: skip
    values = _values(status, COUNTS)
    assert values["stage"] == "processed"
    assert values["raw"] == "rv1" and values["features_version"] == "v3abc"
    assert values["epochs"] == "110 kept / 10 rejected (9 amplitude, 1 edge)"
    assert values["study"] == "speller-2026"


def test_a_quarantined_file_shows_its_reason():
    reason = Quarantined("subject_09/x.parquet", "NO_TARGETS", "the stim channel has no target")
    values = _values(
        SubjectStatus("system-a", "09", None, "quarantined", quarantined=[reason]), None
    )
    assert (
        values["quarantine"] == "NO_TARGETS: the stim channel has no target (subject_09/x.parquet)"
    )
    assert values["epochs"] == "-"


def test_optional_columns_show_only_when_some_row_has_a_value():
    landed = SubjectStatus("system-a", "04", "01", landed=["subject_04/a.parquet"])
    quiet = SubjectStatus("system-a", "05", "01")
    assert "landed" not in [c.key for c in shown_columns(SUBJECT_COLUMNS, [(quiet, None)])]
    shown = [c.key for c in shown_columns(SUBJECT_COLUMNS, [(quiet, None), (landed, None)])]
    assert shown[0] == "study" and "landed" in shown and "quarantine" not in shown
