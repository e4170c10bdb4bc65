import pytest

from p300_aws.errors import BadEventError
from p300_aws.events import parse_event
from p300_aws.processing import PreprocessRequest

RAW_KEY = "study=system-a/subject=01/session=01/eeg.parquet"


def test_request_from_an_ingest_output():
    event = {
        "outcome": "ingested", "study": "system-a", "study_version": 1, "subject": "01",
        "session": "01", "landing_key": "subject_01/subject_01_eeg_stim.parquet",
        "raw_key": RAW_KEY, "raw_version_id": "v1", "sha256": "ab", "needs_processing": True,
        "problems": [],
    }  # fmt: skip
    assert parse_event(PreprocessRequest, event) == PreprocessRequest(
        raw_key=RAW_KEY, raw_version_id="v1", study_version=1
    )


def test_request_from_a_catch_up_item_pins_its_study_version():
    event = {"raw_key": "study=speller/subject=02/session=01/eeg.parquet", "raw_version_id": "v9",
             "study": "speller", "study_version": 3, "subject": "02", "session": "01",
             "sha256": None, "needs_processing": True}  # fmt: skip
    assert parse_event(PreprocessRequest, event).study_version == 3


@pytest.mark.parametrize(
    ("event", "match"),
    [
        ({"bucket": "p300-landing-zone", "key": "x.parquet"}, "raw_key: Field required"),
        ({"raw_key": ""}, "raw_key: String should have at least 1 character, got ''"),
        ({"raw_key": RAW_KEY, "study_version": 0}, "study_version: Input should be greater"),
        ({"raw_key": RAW_KEY, "study_version": "2"}, "study_version: Input should be a valid"),
        ({"raw_key": "k", "raw_version_id": 3}, "raw_version_id: Input should be a valid string"),
    ],
)
def test_request_rejects(event, match):
    with pytest.raises(BadEventError, match=match):
        parse_event(PreprocessRequest, event)
