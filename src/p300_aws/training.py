"""Train a classifier on the latest features of one study's processed subjects; track and
register it. Training never mixes studies: it reads only ``study=<name>/`` features.

One MLflow run in ``p300-training`` holds the parameters, pooled and per-subject held-out metrics,
plots, ``training_subjects.json``, ``dataset_manifest.json`` (every input object's bucket, key,
version id and SHA-256; the manifest's own SHA-256 is the run tag ``dataset_manifest_sha256``),
``feature_schema.json``, ``drift_reference.json`` (what `p300_aws.drift_check` compares new
subjects with) and the fitted model. The run and the registered version are tagged
``p300.study`` and ``p300.study_version`` (the profile version the features were made with), and
the manifest names the study. The model is registered as ``P300-Classifier`` only after all of
that was logged and the run finished.
"""

import importlib.metadata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import AfterValidator, Field, model_validator

from p300 import plots
from p300.evaluation import TrainingResult, fit_and_evaluate
from p300.features_io import (
    IncompatibleFeaturesError,
    TrainingSet,
    check_compatible,
    read_features_info,
    read_training_set,
)
from p300.models import DEFAULT_MODEL, MODEL_NAMES
from p300.studies import SYSTEM_A_NAME
from p300_aws import datasets, keys
from p300_aws.datasets import MANIFEST_TAG
from p300_aws.drift_check import REFERENCE_ARTIFACT, training_reference
from p300_aws.errors import BadKeyError
from p300_aws.events import Event, JsonTuple, Number, Result
from p300_aws.feature_params import STUDY_VERSION
from p300_aws.mlflow_tracking import MlflowTracker, json_bytes
from p300_aws.names import (
    CHALLENGER_ALIAS,
    FEATURES_BUCKET,
    REGISTERED_MODEL,
    STUDY_TAG,
    STUDY_VERSION_TAG,
    TRAIN_TIMEOUT_S,
    TRAINING_EXPERIMENT,
)
from p300_aws.s3_objects import list_keys, read_object, sha256_hex

METRIC_NAMES = ("roc_auc", "balanced_accuracy", "accuracy", "kappa", "n_epochs", "n_target")
#: Epochs drawn (evenly) for the ERP figure: the picture does not change with more.
ERP_MAX_EPOCHS = 3000

type StudyName = Annotated[str, AfterValidator(keys.check_study)]


class TrainRequest(Event):
    """The ``p300-train`` event: train on a percentage of subjects or on the named ones.

    A null value means the default (`p300 train` sends every key).
    """

    training_subjects_percentage: Annotated[Number, Field(gt=0, lt=100)] | None = None
    subjects: JsonTuple[str] | None = None
    auto_set_challenger_alias: bool = False
    model_name: Literal[MODEL_NAMES] = DEFAULT_MODEL  # type: ignore[valid-type]
    model_params: dict[str, Any] = Field(default_factory=dict)
    seed: int = 42
    #: SHA-256 of a recorded dataset manifest: train on exactly its object versions.
    dataset: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None
    #: The study whose features are read (a manifest names its own).
    study: StudyName = SYSTEM_A_NAME

    @model_validator(mode="before")
    @classmethod
    def _null_means_default(cls, values: object) -> object:
        if isinstance(values, Mapping):
            return {key: value for key, value in values.items() if value is not None}
        return values

    @model_validator(mode="after")
    def _one_selection(self) -> "TrainRequest":
        percentage, subjects = self.training_subjects_percentage, self.subjects
        if (percentage is None) == (subjects is None):
            raise ValueError(
                "train event must give exactly one of training_subjects_percentage or subjects, "
                f"got training_subjects_percentage={percentage!r}, subjects={subjects!r}"
            )
        return self


class TrainResult(Result):
    """What ``p300-train`` returns for one training."""

    run_id: str
    model_name: str
    classifier: str
    study: str
    study_version: int | None
    model_version: str
    alias: str | None
    metrics: dict[str, Any]
    training_subjects: list[str]
    test_subjects: list[str]
    dataset_manifest_sha256: str
    excluded_subjects: list[dict[str, str]]


@dataclass(frozen=True)
class FeaturesObject:
    """One features object version read for training."""

    key: str
    version_id: str | None
    sha256: str
    subject: str
    session: str
    body: bytes = field(repr=False)
    #: The study profile version it was made with (its ``study-version`` metadata), if known.
    study_version: int | None = None


def read_latest_features(s3, study: str) -> list[FeaturesObject]:
    """The current version of every ``study=<study>/subject=<S>/session=<N>/features.parquet``,
    by key."""
    objects = []
    for key in list_keys(s3, FEATURES_BUCKET, prefix=keys.study_prefix(study)):
        try:
            ids = keys.parse_features_key(key)
        except BadKeyError:
            continue  # not written by the pipeline
        stored = read_object(s3, FEATURES_BUCKET, key)
        version = stored.head.metadata.get(STUDY_VERSION)
        objects.append(
            FeaturesObject(key, stored.head.version_id, sha256_hex(stored.body), ids.subject,
                           ids.session, stored.body,
                           int(version) if version and version.isdigit() else None)
        )  # fmt: skip
    return objects


def study_version_of(objects: list[FeaturesObject]) -> int | None:
    """The profile version training data was made with: the highest its objects name (objects
    kept together share one params hash, so versions that differ changed only the montage or
    the description); None when none names one."""
    versions = [o.study_version for o in objects if o.study_version is not None]
    return max(versions) if versions else None


def select_compatible(
    objects: list[FeaturesObject], *, subjects: tuple[str, ...] | None = None
) -> tuple[list[FeaturesObject], list[dict]]:
    """Split ``objects`` into those preprocessed alike (one feature schema) and the others.

    One subject recorded with another montage or preprocessed with other parameters must not
    stop training on everyone else. The schema kept is the one of the named training
    ``subjects`` (all must share one), else the one most subjects have (ties: the smaller
    params hash, so the choice is stable). Returns (kept, excluded), each excluded object as
    ``{"subject", "session", "key", "reason"}``.
    """
    infos = [read_features_info(o.body) for o in objects]
    if subjects:
        wanted = {info for o, info in zip(objects, infos, strict=True) if o.subject in subjects}
        if len(wanted) > 1:
            raise ValueError(
                f"the training subjects {sorted(subjects)} were not preprocessed alike "
                f"(channels, sampling rate or parameters differ): train them separately"
            )
    counts: dict = {}
    for o, info in zip(objects, infos, strict=True):
        counts.setdefault(info, set()).add(o.subject)
    if subjects and wanted:
        (chosen,) = wanted
    else:
        chosen = min(counts, key=lambda info: (-len(counts[info]), info.params_hash))
    kept = [o for o, info in zip(objects, infos, strict=True) if info == chosen]
    excluded = [
        {"subject": o.subject, "session": o.session, "key": o.key,
         "reason": _difference(chosen, info)}
        for o, info in zip(objects, infos, strict=True) if info != chosen
    ]  # fmt: skip
    return kept, excluded


def _difference(expected, actual) -> str:
    try:
        check_compatible(expected, actual)
    except IncompatibleFeaturesError as exc:
        return str(exc)
    return "preprocessed differently"


def dataset_manifest(objects: list[FeaturesObject], *, study: str) -> dict:
    """The study, and every input object's bucket, key, version id, SHA-256, subject and
    session, by key."""
    return {
        "study": study,
        "objects": [
            {"bucket": FEATURES_BUCKET, "key": o.key, "version_id": o.version_id,
             "sha256": o.sha256, "subject": o.subject, "session": o.session}
            for o in sorted(objects, key=lambda o: o.key)
        ]
    }  # fmt: skip


def features_by_subject(training_set: TrainingSet) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Split a training set into ``{subject: (X, y)}``, X shape (n_epochs, n_features) in µV."""
    return {
        str(subject): (
            training_set.features[training_set.subjects == subject],
            training_set.labels[training_set.subjects == subject],
        )
        for subject in np.unique(training_set.subjects)
    }


def train_and_register(s3, tracker: MlflowTracker, request: TrainRequest) -> TrainResult:
    """Train on the latest features (with ``request.dataset``: on exactly that manifest's
    object versions), log one MLflow run, register the model; returns the ``p300-train`` output.

    Raises
    ------
    ValueError
        When there are no features, or the split is impossible (see `fit_and_evaluate`).
    MlflowUnavailableError
        When MLflow stays unreachable; no model version is left registered then.
    """
    # MLflow comes first: unreachable, it fails the training before minutes of work.
    tracker.fail_abandoned_runs(TRAINING_EXPERIMENT, older_than_s=TRAIN_TIMEOUT_S)
    run_id = tracker.start_run(
        TRAINING_EXPERIMENT,
        run_name=f"{request.model_name}-training",
        tags={"model_name": request.model_name},
    )
    try:
        study, objects, excluded = _training_objects(s3, tracker, request)
        tags = study_tags(study, study_version_of(objects))
        tracker.log_values(run_id, tags=tags)
        training_set = read_training_set([o.body for o in objects])
        result = _fit(request, training_set)
        manifest = json_bytes(dataset_manifest(objects, study=study))
        manifest_sha256 = sha256_hex(manifest)
        model = tracker.log_sklearn_model(
            run_id, result.model, pip_requirements=_pip_requirements(request.model_name)
        )
        _log_run(tracker, run_id, request, result, training_set, manifest, excluded, model,
                 manifest_sha256=manifest_sha256)  # fmt: skip
        tracker.end_run(run_id)
        alias = CHALLENGER_ALIAS if request.auto_set_challenger_alias else None
        version = tracker.register(model.uri, run_id, name=REGISTERED_MODEL, alias=alias, tags=tags)
    except BaseException:
        tracker.mark_failed(run_id)
        raise
    return TrainResult(
        run_id=run_id,
        model_name=REGISTERED_MODEL,
        classifier=request.model_name,
        study=study,
        study_version=study_version_of(objects),
        model_version=version,
        alias=alias,
        metrics=result.report.pooled.to_dict(),
        training_subjects=list(result.split.train),
        test_subjects=list(result.split.test),
        dataset_manifest_sha256=manifest_sha256,
        excluded_subjects=excluded,
    )


def study_tags(study: str, version: int | None) -> dict[str, str]:
    """The ``p300.study`` (and ``p300.study_version``) tags of a run or model version."""
    return {STUDY_TAG: study} | ({} if version is None else {STUDY_VERSION_TAG: str(version)})


def _training_objects(s3, tracker, request: TrainRequest) -> tuple[str, list[FeaturesObject], list]:
    """The study, its latest compatible features and the excluded ones; with
    ``request.dataset``, the manifest's study and exactly its object versions (already checked
    compatible when it was recorded)."""
    if request.dataset is not None:
        manifest, _ = datasets.fetch_manifest(tracker, request.dataset)
        if (manifest.study or SYSTEM_A_NAME) != request.study:
            raise ValueError(
                f"dataset {request.dataset[:12]} holds study {manifest.study!r}'s features, the "
                f"request names study {request.study!r}: a training reads one study only"
            )
        objects = [
            FeaturesObject(e.key, e.version_id, e.sha256, e.subject, e.session, body)
            for e, body in datasets.read_manifest_versions(s3, manifest)
        ]
        return request.study, objects, []
    objects = read_latest_features(s3, request.study)
    if not objects:
        raise ValueError(
            f"no features of study {request.study!r} in s3://{FEATURES_BUCKET}/"
            f"{keys.study_prefix(request.study)}: process its recordings first"
        )
    return request.study, *select_compatible(objects, subjects=request.subjects)


def _fit(request: TrainRequest, training_set: TrainingSet) -> TrainingResult:
    percentage = request.training_subjects_percentage
    return fit_and_evaluate(
        features_by_subject(training_set),
        model_name=request.model_name,
        train_fraction=None if percentage is None else percentage / 100,
        train_subjects=None if request.subjects is None else list(request.subjects),
        seed=request.seed,
        n_channels=len(training_set.info.ch_names),
        **request.model_params,
    )


def run_metrics(result: TrainingResult) -> dict[str, float | None]:
    """Pooled metrics as ``test_<name>``, per subject as ``test_<subject>_<name>``, and timings."""
    metrics: dict[str, float | None] = {
        f"test_{name}": getattr(result.report.pooled, name) for name in METRIC_NAMES
    }
    for subject, subject_metrics in result.report.per_subject.items():
        for name in METRIC_NAMES:
            metrics[f"test_{subject}_{name}"] = getattr(subject_metrics, name)
    return metrics | {"fit_s": result.fit_seconds, "n_train_epochs": result.n_train_epochs}


def _log_run(
    tracker, run_id, request, result, training_set: TrainingSet, manifest: bytes, excluded, model,
    *, manifest_sha256: str,
):  # fmt: skip
    """Params, metrics (also the logged ``model``'s), the manifest tag, documents and plots."""
    info = training_set.info
    tracker.log_values(
        run_id,
        params={
            "model_name": request.model_name,
            "model_params": request.model_params,
            "seed": request.seed,
            "training_subjects_percentage": request.training_subjects_percentage,
            "training_subjects": list(result.split.train),
            "test_subjects": list(result.split.test),
            "n_subjects": len(result.split.train) + len(result.split.test),
            "params_hash": info.params_hash,
            "n_features": info.n_features,
        },
        metrics=run_metrics(result),
        tags={MANIFEST_TAG: manifest_sha256},
        model=model,
    )
    reference = training_reference(training_set, subjects=result.split.train).to_json().encode()
    figures = {f"plots/{name}": png for name, png in _figures(result, training_set).items()}
    tracker.log_files(
        run_id,
        {
            "dataset_manifest.json": manifest,
            "excluded_subjects.json": json_bytes(excluded),
            "training_subjects.json": json_bytes(result.split.to_dict()),
            "feature_schema.json": json_bytes(info.to_dict()),
            REFERENCE_ARTIFACT: reference,
            "metrics.json": json_bytes(result.report.to_dict()),
        }
        | figures,
    )


def _figures(result: TrainingResult, training_set: TrainingSet) -> dict[str, bytes]:
    """ROC of the held-out subjects, their AUC bars and the ERP of (a sample of) all epochs."""
    info = training_set.info
    chosen = np.linspace(0, len(training_set.labels) - 1, ERP_MAX_EPOCHS).astype(int)
    chosen = np.unique(chosen) if len(training_set.labels) > ERP_MAX_EPOCHS else slice(None)
    epochs = training_set.features[chosen].reshape(-1, len(info.ch_names), info.n_times)
    return {
        "roc.png": plots.plot_roc({s: (r.labels, r.scores) for s, r in result.test_scores.items()}),
        "subject_auc.png": plots.plot_subject_auc(
            {s: m.roc_auc for s, m in result.report.per_subject.items()}
        ),
        "erp.png": plots.plot_erp(
            epochs,
            training_set.labels[chosen],
            times=np.linspace(info.tmin, info.tmax, info.n_times),
            ch_names=info.ch_names,
        ),
    }


def _pip_requirements(model_name: str) -> list[str]:
    packages = ["scikit-learn", "numpy", "scipy"] + (["pyriemann"] if model_name != "lda" else [])
    return [f"{name}=={importlib.metadata.version(name)}" for name in packages]
