from datetime import UTC, datetime

import pytest

from p300_aws.errors import BadEventError
from p300_aws.events import parse_event
from p300_aws.ingest import IngestEvent, quarantine_record
from p300_aws.names import LANDING_BUCKET, RAW_BUCKET


def test_parse_ingest_event():
    event = parse_event(IngestEvent, {"bucket": LANDING_BUCKET, "key": "subject_01/a b.parquet"})
    assert event.key == "subject_01/a b.parquet"


@pytest.mark.parametrize(
    ("event", "match"),
    [
        (
            {"bucket": RAW_BUCKET, "key": "x.parquet"},
            "bucket: Input should be 'p300-landing-zone', got 'p300-raw-data'",
        ),
        ({"bucket": LANDING_BUCKET}, "key: Field required"),
        (
            {"bucket": LANDING_BUCKET, "key": ""},
            "key: String should have at least 1 character, got ''",
        ),
        (
            {"bucket": LANDING_BUCKET, "key": "k", "version": 1},
            "version: Extra inputs are not permitted",
        ),
    ],
)
def test_parse_ingest_event_rejects(event, match):
    with pytest.raises(BadEventError, match=match):
        parse_event(IngestEvent, event)


def test_quarantine_record_takes_the_first_error():
    problems = [
        {"code": "FLAT_CHANNEL", "severity": "warning", "message": "channel 'Cz' is flat"},
        {"code": "NO_TARGETS", "severity": "error", "message": "no target flash"},
        {"code": "TOO_SHORT", "severity": "error", "message": "too short"},
    ]
    record = quarantine_record(
        "subject_01/x.parquet", "ab" * 32, problems, now=datetime(2026, 11, 22, tzinfo=UTC)
    )
    assert record == {
        "code": "NO_TARGETS",
        "message": "no target flash",
        "problems": problems,
        "landing_key": "subject_01/x.parquet",
        "sha256": "ab" * 32,
        "quarantined_at": "2026-11-22T00:00:00+00:00",
    }
