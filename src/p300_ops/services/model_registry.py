"""The registered versions of the platform's model as a person reviews them: metrics, training
and held-out subjects, aliases, the dataset manifest and the figures the training logged.

Everything is read from MLflow, in one attempt per call: a console asks again on its next page
load, so a server that is down is reported at once (`MlflowDown`) instead of after retries.
"""

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from p300_aws.datasets import MANIFEST_ARTIFACT, MANIFEST_TAG, Manifest, parse_manifest
from p300_aws.errors import MlflowUnavailableError
from p300_aws.mlflow_tracking import MlflowTracker, RetryPolicy
from p300_aws.names import KIND_TAG, REGISTERED_MODEL, STUDY_TAG, SUBJECT_TAG
from p300_ops.services.errors import ServiceError

#: The figures a training logs (`p300_aws.training`), in the order a page shows them.
FIGURES = ("plots/roc.png", "plots/erp.png", "plots/subject_auc.png")


class MlflowDown(ServiceError):
    """The MLflow tracking server did not answer."""


class ArtifactNotFound(ServiceError):
    """A run has no artifact at the path asked for."""


@dataclass(frozen=True)
class ModelVersion:
    """One registered version and the training run it came from."""

    name: str
    version: str
    run_id: str
    experiment_id: str | None
    created: datetime
    aliases: tuple[str, ...]
    classifier: str | None
    #: pooled held-out metrics, by name (`p300_aws.training.METRIC_NAMES`)
    metrics: dict[str, float]
    #: held-out metrics per subject: subject → name → value
    subject_metrics: dict[str, dict[str, float]]
    training_subjects: list[str]
    test_subjects: list[str]
    manifest_sha256: str | None
    figures: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class SubjectModel:
    """One subject's own registered model (`p300 calibrate`) and where its aliases point."""

    name: str
    study: str
    subject: str
    #: alias → version, e.g. {"champion": "2", "challenger": "3"}
    aliases: dict[str, str]
    latest_version: str | None
    #: the calibrated model's kind (``lda``, ``xdawn-riemann``…) of the latest version
    classifier: str | None


#: How calibration tags a subject's registered model (`p300_aws.calibration_job`).
SUBJECT_MODELS_FILTER = f"tags.`{KIND_TAG}` = 'subject'"


def tracker(tracking_uri: str) -> MlflowTracker:
    """A tracker that tries each call once (`MlflowDown` is raised by the functions here)."""
    return MlflowTracker(tracking_uri, policy=RetryPolicy(attempts=1))


def model_versions(tracker: MlflowTracker, *, name: str = REGISTERED_MODEL) -> list[ModelVersion]:
    """Every version of ``name``, newest first, with its run's metrics, subjects and figures."""
    client = tracker.client
    with _mlflow_errors():
        versions = tracker.retry(
            lambda: client.search_model_versions(f"name = '{name}'"), what="list model versions"
        )
        aliases = _aliases(tracker, name) if versions else {}
        found = [_version(tracker, v, aliases.get(str(v.version), ())) for v in versions]
    return sorted(found, key=lambda v: int(v.version), reverse=True)


def subject_models(tracker: MlflowTracker) -> list[SubjectModel]:
    """Every subject's own registered model, by study then subject."""
    client = tracker.client
    with _mlflow_errors():
        models = tracker.retry(
            lambda: client.search_registered_models(filter_string=SUBJECT_MODELS_FILTER),
            what="list the subjects' models",
        )
        found = [_subject_model(tracker, model) for model in models]
    return sorted(found, key=lambda m: (m.study, m.subject))


def _subject_model(tracker: MlflowTracker, model) -> SubjectModel:
    latest = max(model.latest_versions or [], key=lambda v: int(v.version), default=None)
    classifier = None
    if latest is not None and latest.run_id:
        run = tracker.retry(lambda: tracker.client.get_run(latest.run_id), what="read a run")
        classifier = run.data.params.get("model_name")
    return SubjectModel(
        name=model.name,
        study=model.tags.get(STUDY_TAG, "?"),
        subject=model.tags.get(SUBJECT_TAG, "?"),
        aliases={alias: str(version) for alias, version in sorted((model.aliases or {}).items())},
        latest_version=None if latest is None else str(latest.version),
        classifier=classifier,
    )


def run_artifact(tracker: MlflowTracker, run_id: str, path: str) -> bytes:
    """The bytes of artifact ``path`` of run ``run_id``; `ArtifactNotFound` when it has none."""
    if PurePosixPath(path).is_absolute() or ".." in PurePosixPath(path).parts:
        raise ValueError(f"path must be relative within the run's artifacts, got {path!r}")
    with _mlflow_errors(), tempfile.TemporaryDirectory() as tmp:
        try:
            local = tracker.retry(
                lambda: tracker.client.download_artifacts(run_id, path, tmp),
                what=f"download {path} of run {run_id}",
            )
        except MlflowUnavailableError:
            raise
        except Exception as exc:
            raise ArtifactNotFound(f"run {run_id} has no artifact {path!r}: {exc}") from None
        return Path(local).read_bytes()


def dataset_manifest(tracker: MlflowTracker, run_id: str) -> Manifest:
    """The dataset manifest the run logged."""
    return parse_manifest(run_artifact(tracker, run_id, MANIFEST_ARTIFACT))


def run_page_url(tracking_uri: str, experiment_id: str | None, run_id: str) -> str:
    """The MLflow UI's page of a run."""
    return f"{tracking_uri.rstrip('/')}/#/experiments/{experiment_id or 0}/runs/{run_id}"


@contextmanager
def _mlflow_errors() -> Iterator[None]:
    """Turn MLflow being unreachable into `MlflowDown`."""
    try:
        yield
    except MlflowUnavailableError as exc:
        raise MlflowDown(
            f"MLflow does not answer ({exc}); `p300 status` shows its state, `p300 up` starts it"
        ) from None


def _aliases(tracker: MlflowTracker, name: str) -> dict[str, tuple[str, ...]]:
    model = tracker.retry(
        lambda: tracker.client.get_registered_model(name), what=f"read model {name}"
    )
    found: dict[str, list[str]] = {}
    for alias, version in (model.aliases or {}).items():
        found.setdefault(str(version), []).append(alias)
    return {version: tuple(sorted(names)) for version, names in found.items()}


def _version(tracker: MlflowTracker, version, aliases: tuple[str, ...]) -> ModelVersion:
    run = tracker.retry(lambda: tracker.client.get_run(version.run_id), what="read a run")
    metrics, params = run.data.metrics, run.data.params
    listed = tracker.retry(
        lambda: tracker.client.list_artifacts(version.run_id, "plots"), what="list figures"
    )
    present = {a.path for a in listed}
    return ModelVersion(
        name=version.name,
        version=str(version.version),
        run_id=version.run_id,
        experiment_id=run.info.experiment_id,
        created=datetime.fromtimestamp(version.creation_timestamp / 1000, UTC),
        aliases=aliases,
        classifier=params.get("model_name"),
        metrics=pooled_metrics(metrics),
        subject_metrics=subject_metrics(metrics, _json_list(params.get("test_subjects"))),
        training_subjects=_json_list(params.get("training_subjects")),
        test_subjects=_json_list(params.get("test_subjects")),
        manifest_sha256=run.data.tags.get(MANIFEST_TAG),
        figures=tuple(f for f in FIGURES if f in present),
    )


def pooled_metrics(metrics: dict[str, float]) -> dict[str, float]:
    """``test_<name>`` metrics of a training run → ``{name: value}``."""
    from p300_aws.training import METRIC_NAMES  # scikit-learn and matplotlib: import on use

    return {n: metrics[f"test_{n}"] for n in METRIC_NAMES if f"test_{n}" in metrics}


def subject_metrics(metrics: dict[str, float], subjects: list[str]) -> dict[str, dict]:
    """``test_<subject>_<name>`` metrics → ``{subject: {name: value}}``."""
    from p300_aws.training import METRIC_NAMES

    return {
        s: {n: metrics[f"test_{s}_{n}"] for n in METRIC_NAMES if f"test_{s}_{n}" in metrics}
        for s in subjects
    }


def _json_list(text: str | None) -> list[str]:
    try:
        value = json.loads(text or "[]")
    except ValueError:
        return [text] if text else []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]
