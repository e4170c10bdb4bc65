"""Data-quality verdicts of preprocessing, raised through the channel drift uses.

A recording whose study profile does not fit it (`p300.studies.ProfileMismatchError`), whose
rejection policy left no epoch or one class only, or that kept under
`p300.rejection.MIN_KEPT_SHARE` of its epochs raises an alert of kind ``data-quality``
(`p300_aws.alerts`: stored under ``alerts/data-quality/`` of the monitoring bucket, then
published to ``p300-alerts``). Every preprocessed recording publishes ``P300/DataQuality``: 1
with an alert, 0 without (once without dimensions, which the alarm ``p300-data-quality``
watches, and once with the dimension ``Study``).
"""

from dataclasses import dataclass, field

from p300.rejection import KeptAssessment
from p300.studies import ProfileMismatchError, StudyProfile
from p300_aws import keys
from p300_aws.alerts import Alert, flag_metric_data, raise_alert
from p300_aws.names import DATA_QUALITY_KIND, DATA_QUALITY_METRIC, METRIC_NAMESPACE

KIND = DATA_QUALITY_KIND
STUDY_DIMENSION = "Study"


@dataclass(frozen=True)
class QualityIssue:
    """What is wrong with one recording: a ``code`` (`p300.rejection` or `p300.studies`
    codes), one sentence, whether the recording can still be used, and the facts."""

    code: str
    message: str
    usable: bool
    evidence: dict = field(default_factory=dict)


def mismatch_issue(error: ProfileMismatchError) -> QualityIssue:
    """The issue of a recording its study's profile cannot process."""
    return QualityIssue(error.code, str(error).removeprefix(f"{error.code}: "), usable=False)


def kept_issue(assessment: KeptAssessment) -> QualityIssue | None:
    """The issue of a rejection policy's verdict; None when all is well."""
    if not assessment.alert:
        return None
    return QualityIssue(
        assessment.code, assessment.message, assessment.usable, evidence=assessment.to_dict()
    )


def quality_alert(
    issue: QualityIssue, ids: keys.SubjectSession, profile: StudyProfile, *, raw_key: str
) -> Alert:
    """The ``data-quality`` alert of ``issue``: what happened, what it means, what to check."""
    outcome = (
        "It was processed, but check the recording (electrodes, amplifier gain) or the study's "
        "rejection policy."
        if issue.usable
        else "It was not processed: no features were written and nothing stored changed. Check "
        "the recording (electrodes, amplifier gain, sampling rate) or the study's profile "
        f"(`p300 studies show {profile.name}`; `p300 studies update` writes a new version, "
        "and the next catch-up run processes the recording again)."
    )
    return Alert(
        kind=KIND,
        subject=f"{issue.code}: {profile.name} subject {ids.subject} session {ids.session}",
        message=(
            f"Study {profile.name} v{profile.version}, subject {ids.subject} session "
            f"{ids.session}: {issue.message}. {outcome}"
        ),
        evidence=issue.evidence
        | {
            "code": issue.code,
            "usable": issue.usable,
            "study": profile.name,
            "study_version": profile.version,
            "subject": ids.subject,
            "session": ids.session,
            "raw_key": raw_key,
        },
    )


def metric_data(alerted: bool, study: str) -> list[dict]:
    """``DataQuality`` (1 or 0) without dimensions, for the alarm, and per study."""
    return flag_metric_data(DATA_QUALITY_METRIC, alerted, dimension=STUDY_DIMENSION, value=study)


@dataclass(frozen=True)
class QualityChannel:
    """Where data-quality verdicts go: the alerts bucket and topic, and CloudWatch.

    Parameters
    ----------
    s3, sns, cloudwatch : boto3 clients
    topic_arn : str
        The alerts topic (``ALERTS_TOPIC_ARN``).
    """

    s3: object
    sns: object
    cloudwatch: object
    topic_arn: str

    def report(
        self,
        issue: QualityIssue | None,
        ids: keys.SubjectSession,
        profile: StudyProfile,
        *,
        raw_key: str,
    ) -> str | None:
        """Publish the metric and, for an issue, raise its alert; returns the alert's key."""
        alert_key = None
        if issue is not None:
            alert = quality_alert(issue, ids, profile, raw_key=raw_key)
            alert_key = raise_alert(self.s3, self.sns, alert, topic_arn=self.topic_arn)
        self.cloudwatch.put_metric_data(
            Namespace=METRIC_NAMESPACE, MetricData=metric_data(issue is not None, ids.study)
        )
        return alert_key
