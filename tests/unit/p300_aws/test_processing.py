import json

import pytest

from p300.preprocessing import PreprocessingParams
from p300_aws.errors import BadEventError
from p300_aws.events import parse_event
from p300_aws.feature_params import PARAMS_ENV, preprocessing_params
from p300_aws.processing import PreprocessRequest


def test_params_default_to_system_a():
    assert preprocessing_params(environ={}) == PreprocessingParams()


def test_params_from_env_then_event():
    environ = {PARAMS_ENV: json.dumps({"h_freq": 30.0, "resample_sfreq": 128.0})}
    params = preprocessing_params({"resample_sfreq": 64.0}, environ=environ)
    assert (params.h_freq, params.resample_sfreq) == (30.0, 64.0)
    assert params.hash() != PreprocessingParams().hash()


@pytest.mark.parametrize(
    ("overrides", "error", "match"),
    [
        ({"highpass": 1.0}, ValueError, r"must be among .* got unknown \['highpass'\]"),
        ({"h_freq": 0.5}, ValueError, "h_freq must be greater than l_freq"),
    ],
)
def test_params_rejects(overrides, error, match):
    with pytest.raises(error, match=match):
        preprocessing_params(overrides, environ={})


def test_request_from_an_ingest_output():
    event = {
        "outcome": "ingested", "subject": "01", "session": "01",
        "landing_key": "subject_01/subject_01_eeg_stim.parquet",
        "raw_key": "subject=01/session=01/eeg.parquet", "raw_version_id": "v1",
        "sha256": "ab", "needs_processing": True, "problems": [],
    }  # fmt: skip
    assert parse_event(PreprocessRequest, event) == PreprocessRequest(
        raw_key="subject=01/session=01/eeg.parquet", raw_version_id="v1"
    )


def test_request_from_a_catch_up_item_with_params():
    event = {"raw_key": "subject=02/session=01/eeg.parquet", "raw_version_id": "v9",
             "params": {"h_freq": 25.0}}  # fmt: skip
    assert parse_event(PreprocessRequest, event).params == {"h_freq": 25.0}


@pytest.mark.parametrize(
    ("event", "match"),
    [
        ({"bucket": "p300-landing-zone", "key": "x.parquet"}, "raw_key: Field required"),
        ({"raw_key": ""}, "raw_key: String should have at least 1 character, got ''"),
        (
            {"raw_key": "subject=1/session=1/eeg.parquet", "params": [1]},
            r"params: Input should be a valid dictionary, got \[1\]",
        ),
        ({"raw_key": "k", "raw_version_id": 3}, "raw_version_id: Input should be a valid string"),
    ],
)
def test_request_rejects(event, match):
    with pytest.raises(BadEventError, match=match):
        parse_event(PreprocessRequest, event)
