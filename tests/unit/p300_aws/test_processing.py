import dataclasses

import pytest

from p300.studies import SYSTEM_A, new_study
from p300.synthetic import make_session
from p300_aws.errors import BadEventError
from p300_aws.events import parse_event
from p300_aws.processing import PreprocessRequest, judge_recording

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


@pytest.fixture(scope="module")
def session():
    return make_session(seed=1, duration_s=60)


@pytest.mark.parametrize(
    ("gain", "code", "usable"),
    [(1.0, None, True), (2.0, "LOW_KEPT_SHARE", True), (3.0, "ALL_EPOCHS_REJECTED", False)],
)
def test_system_a_fixed_policy_judges_the_gain(session, gain, code, usable):
    judged = judge_recording(dataclasses.replace(session, data=session.data * gain), SYSTEM_A)
    assert (None if judged.issue is None else judged.issue.code) == code
    assert judged.usable is usable
    assert judged.kept["n_flashes"] == len(session.onsets)
    if code == "ALL_EPOCHS_REJECTED":
        assert judged.kept["n_kept"] == 0
        assert judged.issue.message.startswith("rejection policy fixed 100 µV peak-to-peak kept 0")


def test_the_robust_policy_keeps_the_same_epochs_at_any_gain(session):
    study = new_study("speller")
    at_1 = judge_recording(session, study)
    at_3 = judge_recording(dataclasses.replace(session, data=session.data * 3), study)
    assert at_1.issue is at_3.issue is None
    assert at_1.kept["n_kept"] == at_3.kept["n_kept"] > 0.8 * at_1.kept["n_flashes"]


@pytest.mark.parametrize(
    ("study", "change", "code"),
    [
        (new_study("lab", h_freq=40.0), {"sfreq": 64.0}, "NYQUIST_BELOW_BAND"),
        (new_study("lab", montage=("Cz", "Pz")), {}, "MONTAGE_MISMATCH"),
    ],
)
def test_a_profile_that_does_not_fit_is_an_unusable_issue_before_any_preprocessing(
    session, study, change, code
):
    judged = judge_recording(dataclasses.replace(session, **change), study)
    assert (judged.features, judged.kept, judged.usable) == (None, None, False)
    assert judged.issue.code == code
    assert "study 'lab' v1" in judged.issue.message and not judged.issue.message.startswith(code)
