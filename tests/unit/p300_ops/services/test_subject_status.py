import pytest

from p300_aws.feature_params import CURRENT, MISSING, STALE
from p300_ops.services.subject_status import (
    BucketListing,
    Quarantined,
    RawObject,
    subject_statuses,
)

SA = "system-a"
RAW = "study=system-a/subject=01/session=01/eeg.parquet"


@pytest.mark.parametrize(
    ("state", "stage", "features"),
    [(CURRENT, "processed", "up to date"), (STALE, "raw", "stale"), (MISSING, "raw", "missing")],
)
def test_processed_only_when_the_pipeline_calls_the_features_current(state, stage, features):
    listing = BucketListing(raw={(SA, "01", "01"): RawObject(RAW, "v2", "abc", state)})
    [status] = subject_statuses(listing)
    assert (status.stage, status.features, status.raw_version_id) == (stage, features, "v2")


def test_raw_without_features_is_raw_with_missing_features():
    [status] = subject_statuses(BucketListing(raw={(SA, "01", "01"): RawObject(RAW, "v1", "abc")}))
    assert (status.stage, status.features) == ("raw", "missing")


def test_every_stage_sorted_by_study_subject_and_session():
    listing = BucketListing(
        landing_keys=[
            "subject_03/subject_03_eeg_stim.parquet",
            "subject_02/session_02/a.parquet",
            "study_speller/subject_02/session_01/b.parquet",
        ],
        raw={
            (SA, "02", "01"): RawObject(
                "study=system-a/subject=02/session=01/eeg.parquet", "v1", "s", CURRENT
            ),
            ("speller", "02", "01"): RawObject(
                "study=speller/subject=02/session=01/eeg.parquet", "v1", "t", STALE
            ),
        },
        quarantined=[Quarantined("subject_04/bad.parquet", "NOT_PARQUET", "cannot read")],
    )
    rows = [(s.study, s.subject, s.session, s.stage) for s in subject_statuses(listing)]
    assert rows == [
        ("speller", "02", "01", "raw"),
        (SA, "02", "01", "processed"),
        (SA, "02", "02", "landed"),
        (SA, "03", "01", "landed"),
        (SA, "04", None, "quarantined"),
    ]
    [speller] = [s for s in subject_statuses(listing) if s.study == "speller"]
    assert speller.landed == ["study_speller/subject_02/session_01/b.parquet"]


def test_unparseable_landing_key_is_shown_under_a_question_mark():
    listing = BucketListing(quarantined=[Quarantined("oops.parquet", "BAD_KEY", "no subject")])
    [status] = subject_statuses(listing)
    assert (status.study, status.subject, status.stage, status.quarantined[0].code) == (
        SA, "?", "quarantined", "BAD_KEY"
    )  # fmt: skip
