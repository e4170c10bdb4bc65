"""Preprocess one ingested recording into its features object, logged as an MLflow run.

The features of ``study=<name>/subject=<S>/session=<N>/eeg.parquet`` go to
``p300-processed-features/study=<name>/subject=<S>/session=<N>/features.parquet``, made with
the profile of that study (the version the item pins, else the latest), with metadata
``study``, ``study-version``, ``raw-sha256``, ``raw-version-id``, ``params-hash`` and
``mlflow-run-id``. Work is skipped when that object was already made from the same raw bytes
with the same parameters.

A recording its study's profile does not fit, or left with no usable epochs by the study's
rejection policy, is ``rejected``: nothing is written but the reason (``rejection.json`` next to
where the features would be, which also keeps the catch-up run from trying again with the same
profile), and a data-quality alert is raised (`p300_aws.data_quality`).
"""

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol

from pydantic import Field

from p300.features_io import features_to_parquet_bytes
from p300.preprocessing import preprocess
from p300.raw_io import read_recording
from p300.rejection import assess_kept
from p300.studies import ProfileMismatchError, StudyProfile
from p300_aws import keys
from p300_aws.data_quality import QualityChannel, QualityIssue, kept_issue, mismatch_issue
from p300_aws.errors import VerificationError
from p300_aws.events import Result, StepOutput
from p300_aws.feature_params import (
    CODE,
    CURRENT,
    PARAMS_HASH,
    PROFILE_HASH,
    RAW_SHA256,
    RAW_VERSION_ID,
    REJECTED,
    RUN_ID,
    STUDY,
    STUDY_VERSION,
    features_state,
)
from p300_aws.names import (
    FEATURES_BUCKET,
    PREPROCESSING_EXPERIMENT,
    RAW_BUCKET,
    STUDY_TAG,
    STUDY_VERSION_TAG,
)
from p300_aws.s3_objects import head_object, put_verified, read_object, sha256_hex
from p300_aws.studies import StudyProfiles

if TYPE_CHECKING:
    from p300.types import EpochFeatures, RawRecording

_COUNTS = ("n_flashes", "n_kept", "n_rejected", "n_target", "n_nontarget")


class RunTracker(Protocol):
    """What preprocessing logs to: `MlflowRestTracker` in the Lambda, `MlflowTracker` too."""

    def start_run(self, experiment: str, *, run_name: str, tags: Mapping[str, str]) -> str: ...

    def log_values(
        self,
        run_id: str,
        *,
        params: Mapping[str, object] = ...,
        metrics: Mapping[str, float | None] = ...,
        tags: Mapping[str, str] = ...,
    ) -> None: ...

    def end_run(self, run_id: str) -> None: ...

    def mark_failed(self, run_id: str) -> None: ...


class PreprocessRequest(StepOutput):
    """One raw object version to preprocess: `p300-ingest`'s output or a catch-up raw item
    (``raw_key``, ``raw_version_id``, ``study_version``)."""

    raw_key: Annotated[str, Field(min_length=1)]
    raw_version_id: str | None = None
    #: The version of the raw key's study to process with; null: its latest.
    study_version: Annotated[int, Field(ge=1)] | None = None


class PreprocessResult(Result):
    """What ``p300-preprocess`` returns: the features object of the subject/session, or
    (``rejected``) why none was written."""

    outcome: Literal["processed", "skipped", "rejected"]
    study: str
    study_version: int
    subject: str
    session: str
    features_key: str
    features_version_id: str | None
    summary: dict[str, Any]
    mlflow_run_id: str | None
    #: A data-quality code: why the recording was ``rejected`` (`p300.studies` or
    #: `p300.rejection` codes), or ``LOW_KEPT_SHARE`` on a processed one; else null.
    code: str | None = None
    reason: str | None = None
    #: ``rejected``: where the reason is kept (``keys.rejection_key``).
    rejection_key: str | None = None
    #: What the rejection policy kept (`p300.rejection.KeptAssessment.to_dict`).
    kept: dict[str, Any] | None = None
    #: The data-quality alert raised, if any (`p300_aws.data_quality`).
    alert_key: str | None = None


def preprocess_object(
    s3,
    tracker: RunTracker,
    request: PreprocessRequest,
    *,
    profiles: StudyProfiles,
    quality: QualityChannel,
) -> PreprocessResult:
    """Preprocess the raw object version of ``request`` with its study's profile unless its
    features are current (or it was refused with this profile already).

    A recording the profile does not fit (`p300.studies.ProfileMismatchError`), or left by the
    rejection policy with no epoch or one class only, is ``rejected``: no features are written,
    its reason is kept at ``keys.rejection_key`` and a data-quality alert is raised. One that
    keeps under `p300.rejection.MIN_KEPT_SHARE` of its epochs is processed and alerted.

    Raises
    ------
    UnknownStudyError
        When the raw key's study (or the pinned version of it) does not exist.
    VerificationError
        When the raw bytes do not match their ``sha256`` metadata.
    MlflowUnavailableError
        When the run cannot be logged; no features object is written then.
    """
    ids = keys.parse_raw_key(request.raw_key)
    profile = profiles.get(ids.study, request.study_version)
    params, params_hash = profile.params, profile.params_hash
    target = keys.features_key(ids)
    raw_head = head_object(s3, RAW_BUCKET, request.raw_key, version_id=request.raw_version_id)
    names = {"study": ids.study, "study_version": profile.version, "subject": ids.subject,
             "session": ids.session, "features_key": target}  # fmt: skip
    state = features_state(s3, ids, raw_sha256=raw_head.sha256, profile=profile)
    if state == CURRENT:
        current = head_object(s3, FEATURES_BUCKET, target)
        return PreprocessResult(
            outcome="skipped", **names, features_version_id=current.version_id, summary={},
            mlflow_run_id=current.metadata.get(RUN_ID),
        )  # fmt: skip
    if state == REJECTED:
        return _rejected_before(s3, ids, names)
    computed = _compute(s3, raw_head, ids, profile)
    alert_key = quality.report(computed.issue, ids, profile, raw_key=request.raw_key)
    verdict = {"kept": computed.kept, "alert_key": alert_key}
    if computed.issue is not None:
        verdict |= {"code": computed.issue.code, "reason": computed.issue.message}
    if computed.parquet is None:
        key = _keep_rejection(s3, ids, profile, raw_head, computed)
        return PreprocessResult(
            outcome="rejected", **names, features_version_id=None, summary=computed.summary,
            mlflow_run_id=None, rejection_key=key, **verdict,
        )  # fmt: skip
    run_id = tracker.start_run(
        PREPROCESSING_EXPERIMENT,
        run_name=f"{ids.study}-subject-{ids.subject}-session-{ids.session}",
        tags={**_study_tags(profile), "subject": ids.subject, "session": ids.session,
              "raw_sha256": computed.raw_sha256}
        | ({} if computed.issue is None else {"p300.data_quality": computed.issue.code}),
    )  # fmt: skip
    try:
        tracker.log_values(
            run_id,
            params={**params.to_dict(), "params_hash": params_hash, "raw_key": request.raw_key,
                    "raw_version_id": raw_head.version_id, "study": profile.name,
                    "study_version": profile.version},
            metrics={**{k: computed.summary[k] for k in _COUNTS}, **computed.timings_s,
                     "kept_share": computed.kept["kept_share"]},
        )  # fmt: skip
        started = time.perf_counter()
        written = put_verified(
            s3,
            FEATURES_BUCKET,
            target,
            computed.parquet,
            metadata={
                STUDY: profile.name,
                STUDY_VERSION: str(profile.version),
                RAW_SHA256: computed.raw_sha256,
                RAW_VERSION_ID: raw_head.version_id or "null",
                PARAMS_HASH: params_hash,
                RUN_ID: run_id,
            },
        )
        tracker.log_values(
            run_id,
            metrics={"write_s": time.perf_counter() - started},
            tags={"features_key": target, "features_version_id": str(written.version_id)},
        )
        tracker.end_run(run_id)
    except BaseException:
        tracker.mark_failed(run_id)
        raise
    summary = computed.summary | {"timings_s": computed.timings_s}
    return PreprocessResult(
        outcome="processed", **names, features_version_id=written.version_id, summary=summary,
        mlflow_run_id=run_id, **verdict,
    )  # fmt: skip


def _keep_rejection(s3, ids, profile: StudyProfile, raw_head, computed: "_Computed") -> str:
    """Write why the recording was refused (`keys.rejection_key`), with what it was refused
    for (its raw SHA-256 and the profile's hash) as metadata; returns the key."""
    issue = computed.issue
    record = {
        "code": issue.code,
        "message": issue.message,
        "study": profile.name,
        "study_version": profile.version,
        "profile_hash": profile.hash(),
        "raw_key": raw_head.key,
        "raw_version_id": raw_head.version_id,
        "raw_sha256": computed.raw_sha256,
        "evidence": issue.evidence,
        "rejected_at": datetime.now(UTC).isoformat(),
    }
    key = keys.rejection_key(ids)
    put_verified(
        s3,
        FEATURES_BUCKET,
        key,
        json.dumps(record, indent=2, ensure_ascii=False).encode(),
        metadata={RAW_SHA256: computed.raw_sha256, PROFILE_HASH: profile.hash(),
                  STUDY: profile.name, STUDY_VERSION: str(profile.version), CODE: issue.code},
        content_type="application/json",
    )  # fmt: skip
    return key


def _rejected_before(s3, ids: keys.SubjectSession, names: dict) -> PreprocessResult:
    """The result of a recording refused with this profile already: its recorded reason, and
    no new alert."""
    key = keys.rejection_key(ids)
    record = json.loads(read_object(s3, FEATURES_BUCKET, key).body)
    return PreprocessResult(
        outcome="rejected", **names, features_version_id=None, summary={}, mlflow_run_id=None,
        code=record.get("code"), reason=record.get("message"), rejection_key=key,
    )  # fmt: skip


def _study_tags(profile: StudyProfile) -> dict[str, str]:
    """MLflow tags naming the study profile a run used."""
    return {STUDY_TAG: profile.name, STUDY_VERSION_TAG: str(profile.version)}


@dataclass(frozen=True)
class Judged:
    """A recording preprocessed with its study's profile, and what can be done with it.

    Attributes
    ----------
    features : EpochFeatures or None
        None when the profile does not fit the recording (it was not preprocessed).
    issue : QualityIssue or None
        What is wrong (`p300_aws.data_quality`); None when all is well.
    kept : dict or None
        The rejection policy's verdict (`p300.rejection.KeptAssessment.to_dict`); None when
        not preprocessed.
    """

    features: "EpochFeatures | None"
    issue: QualityIssue | None
    kept: dict | None

    @property
    def usable(self) -> bool:
        """Whether its features may be stored (and trained on)."""
        return self.issue is None or self.issue.usable


def judge_recording(recording: "RawRecording", profile: StudyProfile) -> Judged:
    """Check ``recording`` against ``profile``, preprocess it with the profile's parameters and
    judge what its rejection policy kept (`p300.rejection.assess_kept`)."""
    try:
        profile.validate(recording)
    except ProfileMismatchError as exc:
        return Judged(None, mismatch_issue(exc), None)
    features = preprocess(recording, profile.params)
    assessment = assess_kept(features)
    return Judged(features, kept_issue(assessment), assessment.to_dict())


@dataclass(frozen=True)
class _Computed:
    """`Judged`, with the raw bytes' SHA-256, the summary, timings and (when usable) the
    features as Parquet."""

    raw_sha256: str
    summary: dict
    parquet: bytes | None = field(repr=False)
    timings_s: dict[str, float]
    issue: QualityIssue | None
    kept: dict | None


def _compute(s3, raw_head, ids: keys.SubjectSession, profile: StudyProfile) -> _Computed:
    """Read the raw version (checking its SHA-256), decode and judge it (`judge_recording`),
    and serialise its features when usable."""
    clock = time.perf_counter()
    raw = read_object(s3, RAW_BUCKET, raw_head.key, version_id=raw_head.version_id)
    digest = sha256_hex(raw.body)
    if raw_head.sha256 and digest != raw_head.sha256:
        raise VerificationError(
            f"s3://{RAW_BUCKET}/{raw_head.key} version {raw_head.version_id} has sha256 {digest}"
            f", not its metadata's {raw_head.sha256}"
        )
    timings = {"read_s": time.perf_counter() - clock}
    clock = time.perf_counter()
    recording = replace(read_recording(raw.body), subject=ids.subject, session=ids.session)
    timings["decode_s"] = time.perf_counter() - clock
    clock = time.perf_counter()
    judged = judge_recording(recording, profile)
    timings["preprocess_s"] = time.perf_counter() - clock
    summary = {} if judged.features is None else judged.features.summary
    parquet = None
    if judged.usable:
        clock = time.perf_counter()
        parquet = features_to_parquet_bytes(judged.features)
        timings["serialize_s"] = time.perf_counter() - clock
    return _Computed(digest, summary, parquet, timings, judged.issue, judged.kept)
