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
