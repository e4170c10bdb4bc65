from io import StringIO

import pytest
from rich.console import Console

from p300_ops.commands.subjects import (
    BucketListing,
    Quarantined,
    statuses_table,
    subject_statuses,
)

RAW = "subject=01/session=01/eeg.parquet"


@pytest.mark.parametrize(
    ("features_sha", "stage", "features"),
    [("abc", "processed", "up to date"), ("old", "raw", "stale"), (None, "raw", "stale")],
)
def test_features_are_current_only_when_made_from_the_current_raw(features_sha, stage, features):
    listing = BucketListing(
        raw={("01", "01"): (RAW, "v2", "abc")}, features_raw_sha256={("01", "01"): features_sha}
    )
    [status] = subject_statuses(listing)
    assert (status.stage, status.features, status.raw_version_id) == (stage, features, "v2")


def test_raw_without_features_is_raw_with_missing_features():
    [status] = subject_statuses(BucketListing(raw={("01", "01"): (RAW, "v1", "abc")}))
    assert (status.stage, status.features) == ("raw", "missing")


def test_every_stage_sorted_by_subject_and_session():
    listing = BucketListing(
        landing_keys=["subject_03/subject_03_eeg_stim.parquet", "subject_02/session_02/a.parquet"],
        raw={("02", "01"): ("subject=02/session=01/eeg.parquet", "v1", "s")},
        features_raw_sha256={("02", "01"): "s"},
        quarantined=[Quarantined("subject_04/bad.parquet", "NOT_PARQUET", "cannot read")],
    )
    rows = [(s.subject, s.session, s.stage) for s in subject_statuses(listing)]
    assert rows == [
        ("02", "01", "processed"),
        ("02", "02", "landed"),
        ("03", "01", "landed"),
        ("04", None, "quarantined"),
    ]


def test_unparseable_landing_key_is_shown_under_a_question_mark():
    listing = BucketListing(quarantined=[Quarantined("oops.parquet", "BAD_KEY", "no subject")])
    [status] = subject_statuses(listing)
    assert (status.subject, status.stage, status.quarantined[0].code) == ("?", "quarantined",
                                                                          "BAD_KEY")  # fmt: skip


def test_table_shows_quarantine_code_and_message():
    listing = BucketListing(
        quarantined=[Quarantined("subject_04/bad.parquet", "NOT_PARQUET", "cannot read 5 bytes")]
    )
    out = StringIO()
    Console(file=out, width=200).print(statuses_table(subject_statuses(listing)))
    assert "quarantined subject_04/bad.parquet: NOT_PARQUET: cannot read 5 bytes" in out.getvalue()
