"""Data-quality verdicts: issues, the alert's words and evidence, the metric."""

import pytest

from p300.rejection import KeptAssessment
from p300.studies import ProfileMismatchError, new_study
from p300_aws.data_quality import (
    KIND,
    QualityChannel,
    kept_issue,
    metric_data,
    mismatch_issue,
    quality_alert,
)
from p300_aws.keys import SubjectSession

IDS = SubjectSession("speller", "01", "02")
PROFILE = new_study("speller")
RAW_KEY = "study=speller/subject=01/session=02/eeg.parquet"


def _assessment(code: str | None, n_kept: int = 0) -> KeptAssessment:
    message = "" if code is None else f"rejection policy fixed 100 µV peak-to-peak kept {n_kept}"
    return KeptAssessment("fixed 100 µV peak-to-peak", 720, n_kept, 0, n_kept,
                          n_kept / 720, code, message)  # fmt: skip


@pytest.mark.parametrize(
    ("code", "usable"),
    [("ALL_EPOCHS_REJECTED", False), ("ONE_CLASS_LEFT", False), ("LOW_KEPT_SHARE", True)],
)
def test_a_policy_verdict_becomes_an_issue_with_its_counts(code, usable):
    issue = kept_issue(_assessment(code, 51))
    assert (issue.code, issue.usable) == (code, usable)
    assert issue.evidence["n_kept"] == 51 and issue.evidence["n_flashes"] == 720


def test_a_recording_that_kept_enough_is_no_issue():
    assert kept_issue(_assessment(None, 700)) is None


def test_a_mismatch_becomes_an_unusable_issue_without_repeating_its_code():
    issue = mismatch_issue(ProfileMismatchError("NYQUIST_BELOW_BAND", "band above 32 Hz"))
    assert (issue.code, issue.message, issue.usable) == (
        "NYQUIST_BELOW_BAND", "band above 32 Hz", False
    )  # fmt: skip


def test_the_alert_names_the_study_subject_policy_and_what_was_done():
    alert = quality_alert(kept_issue(_assessment("ALL_EPOCHS_REJECTED")), IDS, PROFILE,
                          raw_key=RAW_KEY)  # fmt: skip
    assert alert.kind == KIND == "data-quality"
    assert alert.subject == "ALL_EPOCHS_REJECTED: speller subject 01 session 02"
    assert "rejection policy fixed 100 µV peak-to-peak kept 0" in alert.message
    assert "It was not processed" in alert.message and "p300 studies show speller" in alert.message
    assert alert.evidence["raw_key"] == RAW_KEY
    assert (alert.evidence["study"], alert.evidence["study_version"]) == ("speller", 1)
    low = quality_alert(kept_issue(_assessment("LOW_KEPT_SHARE", 100)), IDS, PROFILE,
                        raw_key=RAW_KEY)  # fmt: skip
    assert "It was processed" in low.message


@pytest.mark.parametrize(("alerted", "value"), [(True, 1.0), (False, 0.0)])
def test_the_metric_is_published_plain_for_the_alarm_and_per_study(alerted, value):
    plain, per_study = metric_data(alerted, "speller")
    assert (plain["MetricName"], plain["Value"], "Dimensions" in plain) == (
        "DataQuality", value, False
    )  # fmt: skip
    assert per_study["Dimensions"] == [{"Name": "Study", "Value": "speller"}]


class _Recorder:
    """Records the calls a boto3 client would get (S3 put_object, SNS publish, CloudWatch)."""

    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        return lambda **kwargs: self.calls.append((name, kwargs)) or {}


def test_the_channel_stores_then_publishes_an_alert_and_always_the_metric():
    s3, sns, cloudwatch = _Recorder(), _Recorder(), _Recorder()
    channel = QualityChannel(s3, sns, cloudwatch, topic_arn="arn:topic")
    key = channel.report(kept_issue(_assessment("ONE_CLASS_LEFT", 3)), IDS, PROFILE,
                         raw_key=RAW_KEY)  # fmt: skip
    assert key.startswith("alerts/data-quality/")
    assert [name for name, _ in s3.calls] == ["put_object"]
    assert sns.calls[0][1]["Subject"].startswith("[p300 data-quality] ONE_CLASS_LEFT")
    assert cloudwatch.calls[0][1]["MetricData"][0]["Value"] == 1.0
    assert channel.report(None, IDS, PROFILE, raw_key=RAW_KEY) is None
    assert cloudwatch.calls[1][1]["MetricData"][0]["Value"] == 0.0
    assert len(s3.calls) == len(sns.calls) == 1
