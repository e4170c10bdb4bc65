"""The subjects table's columns: one line each, optional ones only when some row has a value."""

from dataclasses import dataclass

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
        "03", "01", "processed", raw_key="subject=03/session=01/eeg.parquet",
        raw_version_id="rv1", raw_sha256="ab" * 32, features="up to date",
    )  # fmt: skip
    values = _values(status, COUNTS)
    assert values["stage"] == "processed"
    assert values["raw"] == "rv1" and values["features_version"] == "v3abc"
    assert values["epochs"] == "110 kept / 10 rejected (9 amplitude, 1 edge)"
    assert "study" not in values  # no study yet: no empty column


def test_a_quarantined_file_shows_its_reason():
    reason = Quarantined("subject_09/x.parquet", "NO_TARGETS", "the stim channel has no target")
    values = _values(SubjectStatus("09", None, "quarantined", quarantined=[reason]), None)
    assert (
        values["quarantine"] == "NO_TARGETS: the stim channel has no target (subject_09/x.parquet)"
    )
    assert values["epochs"] == "-"


def test_a_study_column_appears_once_statuses_carry_a_study():
    @dataclass
    class StudyStatus(SubjectStatus):
        study: str | None = None

    rows = [(StudyStatus("01", "01", study="speller-2026"), None), (StudyStatus("02", "01"), None)]
    shown = shown_columns(SUBJECT_COLUMNS, rows)
    assert shown[0].key == "study"
    assert [shown[0].value(*row) for row in rows] == ["speller-2026", ""]
