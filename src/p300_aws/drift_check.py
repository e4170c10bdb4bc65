"""Check each processed subject for drift from the current model's training data; publish, alert.

Training logs ``drift_reference.json`` (a `p300.drift.DriftReference`) with every model. For a
subject just processed, ``p300-check-drift`` finds the model behind alias ``champion`` of
``P300-Classifier`` (else ``challenger``) through MLflow's REST API, reads that run's reference
from the MLflow artifacts bucket (cached per model version), reads the subject's features object
and runs `p300.drift.check_drift`. It publishes ``P300/DriftDetected`` (1 drifted, 0 not; once
without dimensions for the alarm, once with dimension ``Subject``) and, on drift, raises an alert
of kind ``drift`` whose evidence holds every channel's KS statistic, p-value and PSI, the
corrected threshold, the drifted channels and the reference model version.

Without any model, or when the model's run has no reference (trained before drift checks), the
outcome is ``no reference`` with the reason, and neither a metric nor an alert is published.
``mlflow`` itself is not imported: two REST calls do.
"""

import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

import numpy as np
from pydantic import ConfigDict, Field

from p300.drift import (
    DriftReference,
    DriftReport,
    build_reference,
    check_drift,
    incomparability,
)
from p300.features_io import TrainingSet, params_hash, read_kept_epochs
from p300.studies import SYSTEM_A_NAME
from p300_aws.alerts import Alert, flag_metric_data, raise_alert
from p300_aws.events import Event, Result
from p300_aws.mlflow_rest import MlflowRestTracker
from p300_aws.mlflow_tracking import RetryPolicy
from p300_aws.names import (
    CHALLENGER_ALIAS,
    CHAMPION_ALIAS,
    DRIFT_METRIC,
    FEATURES_BUCKET,
    METRIC_NAMESPACE,
    MLFLOW_ARTIFACTS_BUCKET,
    REGISTERED_MODEL,
    STUDY_TAG,
)
from p300_aws.s3_objects import find_object, read_object

REFERENCE_ARTIFACT = "drift_reference.json"
#: Aliases whose model's reference is used, in order of preference.
REFERENCE_ALIASES = (CHAMPION_ALIAS, CHALLENGER_ALIAS)
SUBJECT_DIMENSION = "Subject"
HTTP_TIMEOUT_S = 10.0


def training_reference(training_set: TrainingSet, *, subjects: Sequence[str]) -> DriftReference:
    """The drift reference of the kept epochs of ``subjects`` (those the model was fitted on)."""
    info = training_set.info
    rows = np.isin(training_set.subjects, list(subjects))
    if not rows.any():
        known = sorted(map(str, set(training_set.subjects)))
        raise ValueError(
            f"subjects must name subjects of the training set {known}, got {list(subjects)}"
        )
    epochs = training_set.features[rows].reshape(-1, len(info.ch_names), info.n_times)
    return build_reference(epochs, ch_names=info.ch_names, params_hash=info.params_hash)


@dataclass(frozen=True)
class ModelReference:
    """The registered model version whose training data new subjects are compared with, and
    the study it was trained on (its ``p300.study`` tag; untagged versions predate studies and
    were trained on ``system-a``'s data)."""

    alias: str
    version: str
    run_id: str
    artifact_uri: str
    study: str = SYSTEM_A_NAME

    def to_dict(self) -> dict:
        return {"model": REGISTERED_MODEL, "alias": self.alias, "version": self.version,
                "run_id": self.run_id, "study": self.study}  # fmt: skip


def resolve_model(
    tracker: MlflowRestTracker, *, aliases: tuple[str, ...] = REFERENCE_ALIASES
) -> ModelReference | None:
    """The model version behind the first alias of ``aliases`` that is set, or None.

    Raises
    ------
    MlflowUnavailableError, MlflowRestError
        When MLflow cannot be reached, or refuses otherwise than "no such alias".
    OSError
        When the version's run is gone.
    """
    for alias in aliases:
        found = tracker.get("registered-models/alias", {"name": REGISTERED_MODEL, "alias": alias})
        if found is None:
            continue
        version = found["model_version"]
        run = tracker.get("runs/get", {"run_id": version["run_id"]})
        if run is None:
            raise OSError(f"MLflow has no run {version['run_id']} of {REGISTERED_MODEL} v{version}")
        tags = {tag["key"]: tag["value"] for tag in version.get("tags", [])}
        return ModelReference(
            alias, str(version["version"]), version["run_id"], run["run"]["info"]["artifact_uri"],
            tags.get(STUDY_TAG, SYSTEM_A_NAME),
        )  # fmt: skip
    return None


def artifact_location(artifact_uri: str, name: str) -> tuple[str, str]:
    """(bucket, key) of artifact ``name`` of a run whose artifact URI is ``artifact_uri``.

    ``mlflow-artifacts:/<path>`` (the tracking server proxies artifacts into the MLflow
    artifacts bucket) and ``s3://<bucket>/<path>`` are understood.
    """
    parsed = urllib.parse.urlparse(artifact_uri)
    path = parsed.path.strip("/")
    if parsed.scheme == "mlflow-artifacts":
        return MLFLOW_ARTIFACTS_BUCKET, f"{path}/{name}"
    if parsed.scheme == "s3" and parsed.netloc:
        return parsed.netloc, f"{path}/{name}" if path else name
    raise ValueError(
        f"artifact_uri must start with mlflow-artifacts:/ or s3://<bucket>/, got {artifact_uri!r}"
    )


class ReferenceStore:
    """The current model's drift reference, read once per model version.

    Parameters
    ----------
    s3 : boto3 S3 client
    tracking_uri : str
        The MLflow tracking server, e.g. ``http://127.0.0.1:5050``.
    """

    def __init__(self, s3, tracking_uri: str):
        self.s3 = s3
        # One attempt: a failed check is caught by its step, and retrying would only hold back
        # the subject's result.
        self.tracker = MlflowRestTracker(
            tracking_uri, policy=RetryPolicy(attempts=1), timeout_s=HTTP_TIMEOUT_S
        )
        self._by_version: dict[str, DriftReference] = {}

    def current(self) -> tuple[ModelReference | None, DriftReference | None]:
        """The model behind ``champion`` (else ``challenger``) and its reference.

        (None, None) without such a model; (model, None) when its run has no reference (a model
        trained before drift checks existed).
        """
        model = resolve_model(self.tracker)
        if model is None:
            return None, None
        if model.version not in self._by_version:
            bucket, key = artifact_location(model.artifact_uri, REFERENCE_ARTIFACT)
            if find_object(self.s3, bucket, key) is None:
                return model, None
            body = read_object(self.s3, bucket, key).body
            self._by_version[model.version] = DriftReference.from_json(body)
        return model, self._by_version[model.version]


class DriftCheckRequest(Event):
    """A ``p300-preprocess`` output (`p300_aws.processing.PreprocessResult`): the features
    object to check. Its other keys pass through to the output (`CheckedSubject`)."""

    model_config = ConfigDict(extra="allow")

    outcome: str
    subject: str
    session: str
    features_key: str
    features_version_id: str | None = None
    #: The subject's study: it is compared only with a model of the same study.
    study: str = SYSTEM_A_NAME


class DriftSkipped(Result):
    status: Literal["skipped"] = "skipped"
    reason: str


class NoReference(Result):
    """No model to compare with, or (``reference`` set) its run logged no drift reference."""

    status: Literal["no reference"] = "no reference"
    reason: str
    reference: dict[str, str] | None = None


class Incompatible(Result):
    """Another montage or preprocessing than the model's: not comparable, not drift."""

    status: Literal["incompatible"] = "incompatible"
    reason: str
    reference: dict[str, str]


class DriftChecked(Result):
    status: Literal["checked"] = "checked"
    drifted: bool
    drifted_channels: list[str]
    max_psi: float
    reference: dict[str, str]
    alert_key: str | None


type DriftOutcome = Annotated[
    DriftSkipped | NoReference | Incompatible | DriftChecked, Field(discriminator="status")
]


class CheckedSubject(DriftCheckRequest):
    """What ``p300-check-drift`` returns: its input with the check's outcome as ``drift``."""

    drift: DriftOutcome


def check_subject(
    s3, cloudwatch, sns, store: ReferenceStore, request: DriftCheckRequest, *, topic_arn: str
) -> DriftOutcome:
    """Check one processed subject; publish the metric and, on drift, an alert.

    Returns the check's outcome by ``status``: ``checked`` (the verdict), ``no reference``,
    ``incompatible`` or ``skipped`` (each with its ``reason``).
    """
    if request.outcome != "processed":
        return DriftSkipped(reason=f"features {request.outcome}, not new")
    model, reference = store.current()
    if model is None:
        aliases = " or ".join(REFERENCE_ALIASES)
        return NoReference(
            reason=f"no version of {REGISTERED_MODEL} has alias {aliases}: nothing to compare"
        )
    if model.study != request.study:
        return Incompatible(
            reason=f"{REGISTERED_MODEL} v{model.version} ({model.alias}) was trained on study "
            f"{model.study!r}, the subject belongs to study {request.study!r}: studies are "
            "preprocessed differently and never compared",
            reference=model.to_dict(),
        )
    if reference is None:
        return NoReference(
            reason=f"{REGISTERED_MODEL} v{model.version} ({model.alias}) was logged without "
            f"{REFERENCE_ARTIFACT}: retrain to get drift checks",
            reference=model.to_dict(),
        )
    stored = read_object(s3, FEATURES_BUCKET, request.features_key,
                         version_id=request.features_version_id)  # fmt: skip
    epochs, info = read_kept_epochs(stored.body)
    problem = incomparability(
        reference, ch_names=info.ch_names, params_hash=params_hash(info.params)
    )
    if problem:
        # Another montage or preprocessing is not drift: the model cannot score it at all, and
        # the API answers such data with a 4xx naming the difference.
        return Incompatible(
            reason=f"not comparable with {REGISTERED_MODEL} v{model.version}: {problem}",
            reference=model.to_dict(),
        )
    report = check_drift(
        reference, epochs, ch_names=info.ch_names, params_hash=params_hash(info.params)
    )
    cloudwatch.put_metric_data(
        Namespace=METRIC_NAMESPACE, MetricData=metric_data(report.drifted, request.subject)
    )
    alert_key = None
    if report.drifted:
        alert = drift_alert(report, request, model)
        alert_key = raise_alert(s3, sns, alert, topic_arn=topic_arn)
    return DriftChecked(
        drifted=bool(report.drifted),
        drifted_channels=list(report.drifted_channels),
        max_psi=float(report.max_psi),
        reference=model.to_dict(),
        alert_key=alert_key,
    )


def metric_data(drifted: bool, subject: str) -> list[dict]:
    """``DriftDetected`` (1 or 0) without dimensions, for the alarm, and per subject."""
    return flag_metric_data(DRIFT_METRIC, drifted, dimension=SUBJECT_DIMENSION, value=subject)


def drift_alert(report: DriftReport, request: DriftCheckRequest, model: ModelReference) -> Alert:
    """The ``drift`` alert of a drifted subject, with the whole report as evidence."""
    channels = ", ".join(report.drifted_channels)
    worst = min(report.channels, key=lambda channel: channel.p_value)
    return Alert(
        kind="drift",
        subject=request.subject,
        message=(
            f"Subject {request.subject} session {request.session} drifted from the training data "
            f"of {REGISTERED_MODEL} v{model.version} ({model.alias}) on "
            f"{len(report.drifted_channels)} of {report.n_tests} channels: {channels}. "
            f"Worst: {worst.channel}, KS {worst.ks_statistic:.2f}, p {worst.p_value:.2g} < "
            f"{report.threshold:.2g}; median epoch SD {worst.subject_sd:.1f} µV vs "
            f"{worst.reference_sd:.1f} µV. Check the amplifier gain and electrodes before "
            "trusting predictions or training on this subject."
        ),
        evidence=report.to_dict()
        | {
            "reference_model": model.to_dict(),
            "session": request.session,
            "features_key": request.features_key,
            "features_version_id": request.features_version_id,
        },
    )
