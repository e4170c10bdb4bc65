import boto3
import pytest
from botocore.stub import Stubber

from p300_aws.feature_params import CURRENT, MISSING, PARAMS_ENV, STALE, preprocessing_params
from p300_aws.names import PLAN_FUNCTION
from p300_ops.services.subject_status import (
    BucketListing,
    Quarantined,
    RawObject,
    pipeline_params_hash,
    subject_statuses,
)

RAW = "subject=01/session=01/eeg.parquet"


@pytest.mark.parametrize(
    ("state", "stage", "features"),
    [(CURRENT, "processed", "up to date"), (STALE, "raw", "stale"), (MISSING, "raw", "missing")],
)
def test_processed_only_when_the_pipeline_calls_the_features_current(state, stage, features):
    listing = BucketListing(raw={("01", "01"): RawObject(RAW, "v2", "abc", state)})
    [status] = subject_statuses(listing)
    assert (status.stage, status.features, status.raw_version_id) == (stage, features, "v2")


def test_raw_without_features_is_raw_with_missing_features():
    [status] = subject_statuses(BucketListing(raw={("01", "01"): RawObject(RAW, "v1", "abc")}))
    assert (status.stage, status.features) == ("raw", "missing")


def test_every_stage_sorted_by_subject_and_session():
    listing = BucketListing(
        landing_keys=["subject_03/subject_03_eeg_stim.parquet", "subject_02/session_02/a.parquet"],
        raw={("02", "01"): RawObject("subject=02/session=01/eeg.parquet", "v1", "s", CURRENT)},
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


@pytest.mark.parametrize(
    ("variables", "expected"),
    [({}, {}), ({PARAMS_ENV: '{"resample_sfreq": 128.0}'}, {"resample_sfreq": 128.0})],
)
def test_the_params_hash_is_the_deployed_pipelines(variables, expected):
    client = boto3.client("lambda", region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test")  # fmt: skip
    with Stubber(client) as stub:
        stub.add_response(
            "get_function_configuration",
            {"FunctionName": PLAN_FUNCTION, "Environment": {"Variables": variables}},
            {"FunctionName": PLAN_FUNCTION},
        )
        got = pipeline_params_hash(client)
    assert got == preprocessing_params(expected, environ={}).hash()
