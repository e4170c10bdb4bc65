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
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from p300.evaluation import fit_and_evaluate
from p300.feature_selection import make_time_selector
from p300.features_io import FeaturesSchemaInfo, read_training_set
from p300.search_space import DEFAULT_GRID, TrialParams, best_trial, expand_grid
from p300_aws import datasets
from p300_aws.datasets import MANIFEST_ARTIFACT, MANIFEST_TAG
from p300_aws.errors import BadEventError
from p300_aws.mlflow_tracking import MlflowTracker, json_bytes
from p300_aws.names import CHALLENGER_ALIAS, REGISTERED_MODEL, TRAINING_EXPERIMENT
from p300_aws.s3_objects import sha256_hex
from p300_aws.training import (
    TrainRequest,
    _pip_requirements,
    _training_objects,
    dataset_manifest,
    features_by_subject,
    run_metrics,
)

PARENT_RUN_TAG = "mlflow.parentRunId"
TRIALS_ARTIFACT = "trials.json"
DEFAULT_MAX_CONCURRENCY = 2
_TUNING_KEYS = ("trials", "search", "max_concurrency")


@dataclass(frozen=True)
class TuningRequest:
    """The train state machine input with ``trials`` (parameter sets) or ``search``.

    ``search`` is ``{"grid": {name: [values]}, "max_trials": N or None}`` (see
    `p300.search_space.expand_grid`; no grid: `DEFAULT_GRID`); the other keys are those of
    `TrainRequest`.
    """

    train: TrainRequest
    trials: tuple[TrialParams, ...]
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY

    @classmethod
    def from_event(cls, event: Mapping) -> "TuningRequest":
        """Check and parse the event; raises `BadEventError` naming what is wrong."""
        train = TrainRequest.from_event({k: v for k, v in event.items() if k not in _TUNING_KEYS})
        trials, search = event.get("trials"), event.get("search")
        if (trials is None) == (search is None):
            raise BadEventError(
                f"a tuning event must give exactly one of trials or search, got "
                f"trials={trials!r}, search={search!r}"
            )
        concurrency = event.get("max_concurrency", DEFAULT_MAX_CONCURRENCY)
        if not (isinstance(concurrency, int) and concurrency >= 1):
            raise BadEventError(f"max_concurrency must be an integer >= 1, got {concurrency!r}")
        try:
            parsed = (
                [TrialParams.from_dict(t) for t in trials]
                if trials is not None
                else _expand_search(search, seed=train.seed)
            )
        except (ValueError, TypeError, AttributeError) as exc:
            raise BadEventError(f"bad tuning trials or search: {exc}") from exc
        if not parsed:
            raise BadEventError(f"a tuning needs at least one trial, got trials={trials!r}")
        return cls(train, tuple(parsed), concurrency)


def _expand_search(search: Mapping, *, seed: int) -> list[TrialParams]:
    grid = search.get("grid") or DEFAULT_GRID
    return expand_grid(grid, max_trials=search.get("max_trials"), seed=seed)


def start_tuning(s3, tracker: MlflowTracker, request: TuningRequest) -> dict:
    """Open the parent run, freeze the dataset manifest; returns the context of every trial."""
    parent = tracker.start_run(
        TRAINING_EXPERIMENT,
        run_name=f"tuning-{len(request.trials)}-trials",
        tags={"tuning": "parent"},
    )
    try:
        # The latest compatible features, or exactly the versions of ``dataset`` when given.
        objects, excluded = _training_objects(s3, tracker, request.train)
        manifest = json_bytes(dataset_manifest(objects))
        tracker.log_bytes(parent, MANIFEST_ARTIFACT, manifest)
        tracker.log_json(parent, "excluded_subjects.json", excluded)
        tracker.log_values(
            parent,
            params={"n_trials": len(request.trials), "seed": request.train.seed,
                    "training_subjects_percentage": request.train.training_subjects_percentage,
                    "subjects": request.train.subjects, "max_concurrency": request.max_concurrency},
            tags={MANIFEST_TAG: sha256_hex(manifest)},
        )  # fmt: skip
    except BaseException:
        tracker.mark_failed(parent)
        raise
    return {
        "parent_run_id": parent,
        "dataset_manifest_sha256": sha256_hex(manifest),
        "training_subjects_percentage": request.train.training_subjects_percentage,
        "subjects": None if request.train.subjects is None else list(request.train.subjects),
        "seed": request.train.seed,
        "auto_set_challenger_alias": request.train.auto_set_challenger_alias,
        "max_concurrency": request.max_concurrency,
        "trials": [t.to_dict() for t in request.trials],
    }


def run_trial(s3, tracker: MlflowTracker, context: Mapping, index: int, trial: TrialParams) -> dict:
    """Train one parameter set in a nested run on the frozen dataset; returns its result row."""
    started = time.perf_counter()
    parent = context["parent_run_id"]
    run_id = tracker.start_run(
        TRAINING_EXPERIMENT,
        run_name=f"trial-{index}",
        tags={PARENT_RUN_TAG: parent, "trial_index": str(index), "model_name": trial.model_name},
    )
    try:
        manifest = _frozen_manifest(tracker, parent, context["dataset_manifest_sha256"])
        versions = datasets.read_manifest_versions(s3, manifest)
        training_set = read_training_set([body for _, body in versions])
        result = _fit(context, trial, training_set.info, features_by_subject(training_set))
        model = tracker.log_sklearn_model(
            run_id, result.model, pip_requirements=_pip_requirements(trial.model_name)
        )
        tracker.log_values(
            run_id,
            params={**trial.to_dict(), "trial_index": index, "seed": context["seed"],
                    "training_subjects_percentage": context["training_subjects_percentage"],
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
    return {
        "index": index,
        "status": "succeeded",
        "run_id": run_id,
        "model_uri": model.uri,
        "roc_auc": result.report.pooled.roc_auc,
        "duration_s": round(time.perf_counter() - started, 3),
        "params": trial.to_dict(),
        "training_subjects": list(result.split.train),
    }


def pick_best(tracker: MlflowTracker, context: Mapping, results: list[Mapping]) -> dict:
    """Register the best trial's model, log the trial table on the parent run and end it.

    Raises
    ------
    ValueError
        When no trial succeeded (the parent run is marked FAILED).
    """
    parent = context["parent_run_id"]
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
        alias = CHALLENGER_ALIAS if context.get("auto_set_challenger_alias") else None
        version = tracker.register(best["model_uri"], best["run_id"], name=REGISTERED_MODEL,
                                   alias=alias)  # fmt: skip
    except BaseException:
        tracker.mark_failed(parent)
        raise
    return {
        "run_id": parent,
        "best_run_id": best["run_id"],
        "best_trial": best["index"],
        "best_params": best["params"],
        "model_name": REGISTERED_MODEL,
        "model_version": version,
        "alias": alias,
        "metrics": {"roc_auc": best["roc_auc"]},
        "trials": table,
    }


def trial_table(results: list[Mapping]) -> list[dict]:
    """One row per trial, by index: index, label, status, params, roc_auc, duration_s, run_id,
    model_uri, training_subjects, error, cause.

    A trial the state machine caught arrives as ``{"index", "params", "status": "failed",
    "error", "cause"}``.
    """
    columns = ("index", "status", "params", "roc_auc", "duration_s", "run_id", "model_uri",
               "training_subjects", "error", "cause")  # fmt: skip
    rows = [
        {c: r.get(c) for c in columns}
        | {"label": TrialParams.from_dict(r["params"]).label(), "cause": _message(r.get("cause"))}
        for r in results
    ]
    return sorted(rows, key=lambda row: row["index"])


def _message(cause: str | None) -> str | None:
    """The ``errorMessage`` of a caught Lambda error's cause (JSON text), else the cause."""
    try:
        return json.loads(cause)["errorMessage"]
    except (TypeError, ValueError, KeyError):
        return cause


def handle_event(s3, tracker: MlflowTracker, event: Mapping) -> dict:
    """Run the tuning step named by ``event["action"]``.

    ``start_tuning`` gets the state machine input as ``request``; ``run_trial`` gets the
    ``context`` start_tuning returned, the trial ``index`` and its ``trial`` parameters;
    ``pick_best`` gets the ``context`` and the ``trials`` results.
    """
    action = event.get("action")
    if action == "start_tuning":
        return start_tuning(s3, tracker, TuningRequest.from_event(event["request"]))
    if action == "run_trial":
        try:
            trial = TrialParams.from_dict(event["trial"])
        except (KeyError, ValueError) as exc:
            raise BadEventError(f"run_trial event needs a valid trial: {exc}") from exc
        return run_trial(s3, tracker, event["context"], event["index"], trial)
    if action == "pick_best":
        return pick_best(tracker, event["context"], event["trials"])
    raise BadEventError(
        f"action must be one of ['start_tuning', 'run_trial', 'pick_best'], got {action!r}"
    )


def _fit(context: Mapping, trial: TrialParams, info: FeaturesSchemaInfo, by_subject: dict):
    params = dict(trial.model_params)
    if trial.model_name == "xdawn-riemann":
        params.setdefault("n_channels", len(info.ch_names))
    selection = None
    if trial.window_s is not None or trial.decimation != 1:
        selection = make_time_selector(
            n_channels=len(info.ch_names), n_times=info.n_times, tmin=info.tmin,
            sfreq=info.sfreq, window=trial.window_s, decimation=trial.decimation,
        )  # fmt: skip
    percentage, subjects = context.get("training_subjects_percentage"), context.get("subjects")
    return fit_and_evaluate(
        by_subject,
        model_name=trial.model_name,
        train_fraction=None if percentage is None else percentage / 100,
        train_subjects=subjects,
        seed=context["seed"],
        time_selection=selection,
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
