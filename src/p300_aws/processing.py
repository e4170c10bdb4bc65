"""Preprocess one ingested recording into its features object, logged as an MLflow run.

The features of ``study=<name>/subject=<S>/session=<N>/eeg.parquet`` go to
``p300-processed-features/study=<name>/subject=<S>/session=<N>/features.parquet``, made with
the profile of that study (the version the item pins, else the latest), with metadata
``study``, ``study-version``, ``raw-sha256``, ``raw-version-id``, ``params-hash`` and
``mlflow-run-id``. Work is skipped when that object was already made from the same raw bytes
with the same parameters.
"""

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Literal, Protocol

from pydantic import Field

from p300.features_io import features_to_parquet_bytes
from p300.preprocessing import PreprocessingParams, preprocess
from p300.raw_io import read_recording
from p300.studies import StudyProfile
from p300_aws import keys
from p300_aws.errors import VerificationError
from p300_aws.events import Result, StepOutput
from p300_aws.feature_params import (
    PARAMS_HASH,
    RAW_SHA256,
    RAW_VERSION_ID,
    RUN_ID,
    STUDY,
    STUDY_VERSION,
    features_are_current,
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
    """What ``p300-preprocess`` returns: the features object of the subject/session."""

    outcome: Literal["processed", "skipped"]
    study: str
    study_version: int
    subject: str
    session: str
    features_key: str
    features_version_id: str | None
    summary: dict[str, Any]
    mlflow_run_id: str | None


def preprocess_object(
    s3, tracker: RunTracker, request: PreprocessRequest, *, profiles: StudyProfiles
) -> PreprocessResult:
    """Preprocess the raw object version of ``request`` with its study's profile unless its
    features are current.

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
    if raw_head.sha256 and features_are_current(
        s3, ids, raw_sha256=raw_head.sha256, params_hash=params_hash
    ):
        current = head_object(s3, FEATURES_BUCKET, target)
        return PreprocessResult(
            outcome="skipped", **names, features_version_id=current.version_id, summary={},
            mlflow_run_id=current.metadata.get(RUN_ID),
        )  # fmt: skip
    computed = _compute(s3, raw_head, ids, params)
    run_id = tracker.start_run(
        PREPROCESSING_EXPERIMENT,
        run_name=f"{ids.study}-subject-{ids.subject}-session-{ids.session}",
        tags={**_study_tags(profile), "subject": ids.subject, "session": ids.session,
              "raw_sha256": computed.raw_sha256},
    )  # fmt: skip
    try:
        tracker.log_values(
            run_id,
            params={**params.to_dict(), "params_hash": params_hash, "raw_key": request.raw_key,
                    "raw_version_id": raw_head.version_id, "study": profile.name,
                    "study_version": profile.version},
            metrics={**{k: computed.summary[k] for k in _COUNTS}, **computed.timings_s},
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
        mlflow_run_id=run_id,
    )  # fmt: skip


def _study_tags(profile: StudyProfile) -> dict[str, str]:
    """MLflow tags naming the study profile a run used."""
    return {STUDY_TAG: profile.name, STUDY_VERSION_TAG: str(profile.version)}


@dataclass(frozen=True)
class _Computed:
    raw_sha256: str
    summary: dict
    parquet: bytes = field(repr=False)
    timings_s: dict[str, float] = field(default_factory=dict)


def _compute(s3, raw_head, ids: keys.SubjectSession, params: PreprocessingParams) -> _Computed:
    """Read the raw version (checking its SHA-256), decode, preprocess and serialise it."""
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
    features = preprocess(recording, params)
    timings["preprocess_s"] = time.perf_counter() - clock
    clock = time.perf_counter()
    parquet = features_to_parquet_bytes(features)
    timings["serialize_s"] = time.perf_counter() - clock
    return _Computed(digest, features.summary, parquet, timings)
