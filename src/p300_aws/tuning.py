"""Hyperparameter tuning on the train state machine: StartTuning → a Map of Trials → PickBest.

``start_tuning`` opens the parent MLflow run (experiment ``p300-training``), freezes the dataset
(the manifest of every features object version, logged on the parent run) and expands the
search into trials. Each ``run_trial`` reads exactly those object versions, trains one parameter
set in a nested run (tag ``mlflow.parentRunId``) and logs params, held-out metrics and the
model. ``pick_best`` registers the model of the trial with the highest held-out ROC-AUC as a
new ``P300-Classifier`` version, logs the trial table (``trials.json``) and the best params on
the parent run and ends it. Events carry ids and parameters only, never feature data.
"""

import json
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, PrivateAttr, RootModel, Tag, model_validator

from p300.evaluation import fit_and_evaluate
from p300.feature_selection import make_time_selector
from p300.features_io import FeaturesSchemaInfo, read_training_set
from p300.search_space import DEFAULT_GRID, TrialParams, best_trial, expand_grid
from p300.studies import SYSTEM_A_NAME
from p300_aws import datasets
from p300_aws.calibration_job import CalibrateRequest, CalibrateResult, calibrate_subject
from p300_aws.datasets import MANIFEST_ARTIFACT, MANIFEST_TAG
from p300_aws.events import Event, JsonTuple, Number, Result
from p300_aws.mlflow_tracking import MlflowTracker, json_bytes
from p300_aws.names import CHALLENGER_ALIAS, REGISTERED_MODEL, TRAINING_EXPERIMENT
from p300_aws.s3_objects import sha256_hex
from p300_aws.training import (
    TrainRequest,
    TrainResult,
    _pip_requirements,
    _training_objects,
    dataset_manifest,
    features_by_subject,
    run_metrics,
    study_tags,
    study_version_of,
    train_and_register,
)

PARENT_RUN_TAG = "mlflow.parentRunId"
TRIALS_ARTIFACT = "trials.json"
DEFAULT_MAX_CONCURRENCY = 2
#: The tag of a ``p300-train`` event without ``action``: one training.
TRAIN = "train"


class GridSearch(Event):
    """``{"grid": {name: [values]}, "max_trials": N}``: see `p300.search_space.expand_grid`;
    no (or an empty) grid is `DEFAULT_GRID`."""

    grid: dict[str, Any] | None = None
    max_trials: Annotated[int, Field(ge=1)] | None = None


class TuningRequest(TrainRequest):
    """The train state machine input with ``trials`` (parameter sets) or a ``search``; the other
    keys are those of `TrainRequest`. The search is expanded (and checked) when parsed."""

    trials: JsonTuple[TrialParams] | None = None
    search: GridSearch | None = None
    max_concurrency: Annotated[int, Field(ge=1)] = DEFAULT_MAX_CONCURRENCY
    _planned: tuple[TrialParams, ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _plan_trials(self) -> "TuningRequest":
        if (self.trials is None) == (self.search is None):
            raise ValueError(
                f"a tuning event must give exactly one of trials or search, got "
                f"trials={self.trials!r}, search={self.search!r}"
            )
        if self.search is not None:
            grid = self.search.grid or DEFAULT_GRID
            self._planned = tuple(
                expand_grid(grid, max_trials=self.search.max_trials, seed=self.seed)
            )
        else:
            self._planned = self.trials
        if not self._planned:
            raise ValueError(f"a tuning needs at least one trial, got trials={self.trials!r}")
        return self

    @property
    def planned_trials(self) -> tuple[TrialParams, ...]:
        """The trials given, or the search's expansion."""
        return self._planned


class TuningContext(Event):
    """What every tuning step after ``start_tuning`` gets: the parent run, the frozen dataset,
    the split and the trials."""

    parent_run_id: str
    dataset_manifest_sha256: str
    training_subjects_percentage: Number | None
    subjects: JsonTuple[str] | None
    seed: int
    auto_set_challenger_alias: bool
    max_concurrency: int
    trials: JsonTuple[TrialParams]
    #: The study of the frozen dataset and the profile version its features were made with.
    study: str = SYSTEM_A_NAME
    study_version: int | None = None

    @property
    def study_tags(self) -> dict[str, str]:
        return study_tags(self.study, self.study_version)


class TrialOutcome(Event):
    """One trial's result: ``run_trial``'s output, or the state machine's record of a trial it
    caught failing (``status`` ``failed`` with the Lambda's ``error`` and ``cause``)."""

    index: int
    status: Literal["succeeded", "failed"]
    params: TrialParams
    run_id: str | None = None
    model_uri: str | None = None
    roc_auc: Number | None = None
    duration_s: Number | None = None
    training_subjects: JsonTuple[str] | None = None
    error: str | None = None
    cause: str | None = None


class StartTuning(Event):
    action: Literal["start_tuning"]
    request: TuningRequest


class RunTrial(Event):
    action: Literal["run_trial"]
    context: TuningContext
    index: Annotated[int, Field(ge=0)]
    trial: TrialParams


class PickBest(Event):
    action: Literal["pick_best"]
    context: TuningContext
    trials: JsonTuple[TrialOutcome]


class TuningResult(Result):
    """What ``pick_best`` returns: the registered version of the best trial, and every trial."""

    run_id: str
    best_run_id: str
    best_trial: int
    best_params: dict[str, Any]
    model_name: str
    model_version: str
    alias: str | None
    metrics: dict[str, Any]
    trials: list[dict[str, Any]]


def action(event: object) -> str:
    """The job a ``p300-train`` event asks for: its ``action``, else one training."""
    if isinstance(event, Mapping):
        return event.get("action", TRAIN)
    return getattr(event, "action", TRAIN)


class TrainEvent(RootModel):
    """Every ``p300-train`` event: a training request (no ``action``), a tuning step, or one
    subject's calibration (`p300_aws.calibration_job`)."""

    root: Annotated[
        Annotated[TrainRequest, Tag(TRAIN)]
        | Annotated[StartTuning, Tag("start_tuning")]
        | Annotated[RunTrial, Tag("run_trial")]
        | Annotated[PickBest, Tag("pick_best")]
        | Annotated[CalibrateRequest, Tag("calibrate")],
        Discriminator(action),
    ]


def run_job(
    s3,
    tracker: MlflowTracker,
    job: TrainRequest | StartTuning | RunTrial | PickBest | CalibrateRequest,
) -> TrainResult | TuningContext | TrialOutcome | TuningResult | CalibrateResult:
    """Run the training, the tuning step or the calibration ``job`` asks for."""
    match job:
        case CalibrateRequest():
            return calibrate_subject(s3, tracker, job)
        case StartTuning():
            return start_tuning(s3, tracker, job.request)
        case RunTrial():
            return run_trial(s3, tracker, job.context, job.index, job.trial)
        case PickBest():
            return pick_best(tracker, job.context, job.trials)
    return train_and_register(s3, tracker, job)


def start_tuning(s3, tracker: MlflowTracker, request: TuningRequest) -> TuningContext:
    """Open the parent run, freeze the dataset manifest; returns the context of every trial."""
    trials = request.planned_trials
    parent = tracker.start_run(
        TRAINING_EXPERIMENT,
        run_name=f"tuning-{len(trials)}-trials",
        tags={"tuning": "parent"},
    )
    subjects = None if request.subjects is None else list(request.subjects)
    try:
        # The latest compatible features, or exactly the versions of ``dataset`` when given.
        study, objects, excluded = _training_objects(s3, tracker, request)
        study_version = study_version_of(objects)
        manifest = json_bytes(dataset_manifest(objects, study=study))
        tracker.log_bytes(parent, MANIFEST_ARTIFACT, manifest)
        tracker.log_json(parent, "excluded_subjects.json", excluded)
        tracker.log_values(
            parent,
            params={"n_trials": len(trials), "seed": request.seed,
                    "training_subjects_percentage": request.training_subjects_percentage,
                    "subjects": subjects, "max_concurrency": request.max_concurrency},
            tags={MANIFEST_TAG: sha256_hex(manifest)} | study_tags(study, study_version),
        )  # fmt: skip
    except BaseException:
        tracker.mark_failed(parent)
        raise
    return TuningContext(
        study=study,
        study_version=study_version,
        parent_run_id=parent,
        dataset_manifest_sha256=sha256_hex(manifest),
        training_subjects_percentage=request.training_subjects_percentage,
        subjects=subjects,
        seed=request.seed,
        auto_set_challenger_alias=request.auto_set_challenger_alias,
        max_concurrency=request.max_concurrency,
        trials=trials,
    )


def run_trial(
    s3, tracker: MlflowTracker, context: TuningContext, index: int, trial: TrialParams
) -> TrialOutcome:
    """Train one parameter set in a nested run on the frozen dataset; returns its result row."""
    started = time.perf_counter()
    parent = context.parent_run_id
    run_id = tracker.start_run(
        TRAINING_EXPERIMENT,
        run_name=f"trial-{index}",
        tags={PARENT_RUN_TAG: parent, "trial_index": str(index), "model_name": trial.model_name}
        | context.study_tags,
    )
    try:
        manifest = _frozen_manifest(tracker, parent, context.dataset_manifest_sha256)
        versions = datasets.read_manifest_versions(s3, manifest)
        training_set = read_training_set([body for _, body in versions])
        result = _fit(context, trial, training_set.info, features_by_subject(training_set))
        model = tracker.log_sklearn_model(
            run_id, result.model, pip_requirements=_pip_requirements(trial.model_name)
        )
        tracker.log_values(
            run_id,
            params={**trial.model_dump(mode="json"), "trial_index": index, "seed": context.seed,
                    "training_subjects_percentage": context.training_subjects_percentage,
                    "training_subjects": list(result.split.train),
                    "test_subjects": list(result.split.test),
                    "params_hash": training_set.info.params_hash},
            metrics=run_metrics(result),
            tags={MANIFEST_TAG: manifest.sha256},
            model=model,
        )  # fmt: skip
        tracker.log_files(
            run_id,
            {
                MANIFEST_ARTIFACT: json_bytes(manifest.to_dict()),
                "feature_schema.json": json_bytes(training_set.info.to_dict()),
                "training_subjects.json": json_bytes(result.split.to_dict()),
                "metrics.json": json_bytes(result.report.to_dict()),
            },
        )
        tracker.end_run(run_id)
    except BaseException:
        tracker.mark_failed(run_id)
        raise
    return TrialOutcome(
        index=index,
        status="succeeded",
        run_id=run_id,
        model_uri=model.uri,
        roc_auc=result.report.pooled.roc_auc,
        duration_s=round(time.perf_counter() - started, 3),
        params=trial,
        training_subjects=list(result.split.train),
    )


def pick_best(
    tracker: MlflowTracker, context: TuningContext, results: Sequence[TrialOutcome]
) -> TuningResult:
    """Register the best trial's model, log the trial table on the parent run and end it.

    Raises
    ------
    ValueError
        When no trial succeeded (the parent run is marked FAILED).
    """
    parent = context.parent_run_id
    table = trial_table(results)
    try:
        tracker.log_json(parent, TRIALS_ARTIFACT, table)
        best = best_trial(table)
        # model_name, model_params and training_subjects make the parent replayable by
        # `p300 train --dataset` (`datasets.replay_recipe`) like any training run.
        recipe = {"model_name": best["params"]["model_name"],
                  "model_params": best["params"]["model_params"],
                  "training_subjects": best["training_subjects"]}  # fmt: skip
        tracker.log_values(
            parent,
            params={f"best_{k}": v for k, v in best["params"].items()}
            | {"best_trial": best["index"]}
            | recipe,
            metrics={"best_roc_auc": best["roc_auc"]},
            tags={"best_run_id": best["run_id"]},
        )
        tracker.end_run(parent)
        alias = CHALLENGER_ALIAS if context.auto_set_challenger_alias else None
        version = tracker.register(best["model_uri"], best["run_id"], name=REGISTERED_MODEL,
                                   alias=alias, tags=context.study_tags)  # fmt: skip
    except BaseException:
        tracker.mark_failed(parent)
        raise
    return TuningResult(
        run_id=parent,
        best_run_id=best["run_id"],
        best_trial=best["index"],
        best_params=best["params"],
        model_name=REGISTERED_MODEL,
        model_version=version,
        alias=alias,
        metrics={"roc_auc": best["roc_auc"]},
        trials=table,
    )


def trial_table(results: Sequence[TrialOutcome]) -> list[dict]:
    """One row per trial, by index: index, label, status, params, roc_auc, duration_s, run_id,
    model_uri, training_subjects, error, cause.

    A trial the state machine caught arrives as ``{"index", "params", "status": "failed",
    "error", "cause"}``.
    """
    columns = ("index", "status", "params", "roc_auc", "duration_s", "run_id", "model_uri",
               "training_subjects", "error", "cause")  # fmt: skip
    rows = []
    for result in results:
        values = result.model_dump(mode="json")
        rows.append(
            {c: values[c] for c in columns}
            | {"label": result.params.label(), "cause": _message(result.cause)}
        )
    return sorted(rows, key=lambda row: row["index"])


def _message(cause: str | None) -> str | None:
    """The ``errorMessage`` of a caught Lambda error's cause (JSON text), else the cause."""
    try:
        return json.loads(cause)["errorMessage"]
    except (TypeError, ValueError, KeyError):
        return cause


def _fit(context: TuningContext, trial: TrialParams, info: FeaturesSchemaInfo, by_subject: dict):
    params = dict(trial.model_params)
    selection = None
    if trial.window_s is not None or trial.decimation != 1:
        selection = make_time_selector(
            n_channels=len(info.ch_names), n_times=info.n_times, tmin=info.tmin,
            sfreq=info.sfreq, window=trial.window_s, decimation=trial.decimation,
        )  # fmt: skip
    percentage, subjects = context.training_subjects_percentage, context.subjects
    return fit_and_evaluate(
        by_subject,
        model_name=trial.model_name,
        train_fraction=None if percentage is None else percentage / 100,
        train_subjects=None if subjects is None else list(subjects),
        seed=context.seed,
        time_selection=selection,
        n_channels=len(info.ch_names),
        **params,
    )


def _frozen_manifest(tracker: MlflowTracker, parent: str, sha256: str) -> datasets.Manifest:
    """The manifest ``start_tuning`` logged on the parent run, checked against its SHA-256."""

    def download() -> bytes:
        with tempfile.TemporaryDirectory() as tmp:
            return Path(
                tracker.client.download_artifacts(parent, MANIFEST_ARTIFACT, tmp)
            ).read_bytes()

    manifest = datasets.parse_manifest(
        tracker.retry(download, what=f"download {MANIFEST_ARTIFACT} of run {parent}")
    )
    if manifest.sha256 != sha256:
        raise datasets.DatasetVersionError(
            f"run {parent}'s {MANIFEST_ARTIFACT} has SHA-256 {manifest.sha256}, but the tuning "
            f"froze {sha256}"
        )
    return manifest
