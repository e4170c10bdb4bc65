from io import StringIO

from rich.console import Console

from p300_ops.commands.subjects import statuses_table
from p300_ops.services.subject_status import BucketListing, Quarantined, subject_statuses


def test_table_shows_quarantine_code_and_message():
    listing = BucketListing(
        quarantined=[Quarantined("subject_04/bad.parquet", "NOT_PARQUET", "cannot read 5 bytes")]
    )
    out = StringIO()
    Console(file=out, width=200).print(statuses_table(subject_statuses(listing)))
    assert "quarantined subject_04/bad.parquet: NOT_PARQUET: cannot read 5 bytes" in out.getvalue()


def test_ids_and_stage_stay_whole_when_long_notes_fill_a_narrow_terminal():
    reason = "cannot read 5 bytes as Parquet; " * 10
    listing = BucketListing(
        quarantined=[Quarantined("subject_04/bad.parquet", "NOT_PARQUET", reason)]
    )
    out = StringIO()
    Console(file=out, width=80).print(statuses_table(subject_statuses(listing)))
    first_row = out.getvalue().splitlines()[5]
    assert [cell.strip() for cell in first_row.split("│")[1:5]] == [
        "system-a",
        "04",
        "-",
        "quarantined",
    ]
