"""Per-subject calibration in the ``p300-train`` Lambda: the train event ``{"action":
"calibrate", "study", "subject", ...}`` (`p300 calibrate`).

It reads only that subject's features of that study (``study=<S>/subject=<ID>/session=<N>/
features.parquet``; the sessions asked for, in session order, which is taken as time order),
keeps the flashes of the characters asked for (numbered within each session from the
recording's character marks, else from the pauses between flashes), and calls
`p300.calibration.calibrate`: the model is chosen among the candidates by inner cross-validation
and evaluated on a later session when there is one, else by stratified k-fold within the session.
The raw recording's metadata (the importer's matrix size and character marks) gives the speller
groups, so item (character) accuracy by repetitions and the ITR are measured too.

One MLflow run in ``p300-calibration`` holds the parameters, the choice and why (each
candidate's inner ROC-AUC), ROC-AUC per fold, accuracy by repetitions, ITR, the evaluation
scheme, ``calibration.json``, ``feature_schema.json`` and ``dataset_manifest.json``; the model is
registered as the subject's own model ``P300-<study>_<subject>``
(`p300_aws.names.subject_model_name`), tagged ``p300.study``, ``p300.subject`` and ``p300.kind``
= ``subject``. With ``auto_set_alias`` the new version becomes ``challenger``, or ``champion``
when the subject has none yet (its first model: nothing to compare it with, and a canary needs a
serving champion).

Bad calibration data (one class, too few epochs for the folds, no flashes selected) raises
before MLflow gets a run, so nothing is logged or registered.
"""

import io
import json
from dataclasses import dataclass, field
from typing import Annotated, Literal

import numpy as np
import pyarrow.parquet as pq
from pydantic import AfterValidator, Field, model_validator

from p300.calibration import CANDIDATES, CalibrationData, CalibrationResult, calibrate
from p300.calibration import calibration_data as make_calibration_data
from p300.decoding import speller_groups
from p300.features_io import features_schema_info, read_features
from p300.models import MODEL_NAMES
from p300_aws import keys
from p300_aws.datasets import MANIFEST_TAG
from p300_aws.errors import BadKeyError, MissingObjectError
from p300_aws.events import Event, JsonTuple, Result
from p300_aws.feature_params import STUDY_VERSION
from p300_aws.mlflow_tracking import MlflowTracker, json_bytes
from p300_aws.names import (
    CALIBRATION_EXPERIMENT,
    CHALLENGER_ALIAS,
    CHAMPION_ALIAS,
    FEATURES_BUCKET,
    KIND_TAG,
    RAW_BUCKET,
    SUBJECT_TAG,
    TRAIN_TIMEOUT_S,
    subject_model_name,
)
from p300_aws.s3_objects import list_keys, read_object, sha256_hex
from p300_aws.training import (
    FeaturesObject,
    _pip_requirements,
    dataset_manifest,
    study_tags,
    study_version_of,
)

#: ``model`` of a calibration request that lets calibration choose among `CANDIDATES`.
AUTO = "auto"
SUBJECT_KIND = "subject"
INNER_FOLDS = 3


class CalibrateRequest(Event):
    """The ``p300-train`` event of one subject's calibration (null values mean the default)."""

    action: Literal["calibrate"]
    study: Annotated[str, AfterValidator(keys.check_study)]
    subject: Annotated[str, AfterValidator(lambda value: keys.check_id(value, name="subject"))]
    #: Session ids to calibrate on (all the subject's sessions when None).
    sessions: JsonTuple[str] | None = None
    #: ``[first, last]``: only the flashes of these characters (from 1, within each session).
    characters: JsonTuple[Annotated[int, Field(ge=1)]] | None = None
    model: Literal[(AUTO, *MODEL_NAMES)] = AUTO  # type: ignore[valid-type]
    auto_set_alias: bool = False
    n_folds: Annotated[int, Field(ge=2)] = 5
    seed: int = 0

    @model_validator(mode="after")
    def _character_range(self) -> "CalibrateRequest":
        if self.characters is not None and (
            len(self.characters) != 2 or self.characters[0] > self.characters[1]
        ):
            raise ValueError(
                f"characters must be [first, last] with 1 <= first <= last, got "
                f"{list(self.characters)}"
            )
        return self

    @property
    def candidates(self) -> tuple[str, ...]:
        return CANDIDATES if self.model == AUTO else (self.model,)


class CalibrateResult(Result):
    """What a calibration returns: the registered version, the choice and the evaluation."""

    run_id: str
    model_name: str
    model_version: str
    alias: str | None
    study: str
    subject: str
    classifier: str
    reason: str
    sessions: list[str]
    characters: list[int] | None
    n_epochs: int
    n_target: int
    evaluation: dict
    dataset_manifest_sha256: str


@dataclass(frozen=True)
class SubjectSessions:
    """One subject's features objects (session order) and what its raw recordings say."""

    objects: list[FeaturesObject]
    groups: tuple | None
    trials_by_session: dict[str, np.ndarray] | None
    seconds_per_flash: float | None
    features: dict = field(repr=False, default_factory=dict)


def calibrate_subject(s3, tracker: MlflowTracker, request: CalibrateRequest) -> CalibrateResult:
    """Calibrate, log and register one subject's model (see the module docstring).

    Raises
    ------
    ValueError
        When the subject has no features in the study (or not the sessions asked for), or the
        characters asked for hold no flash.
    CalibrationError
        `ONE_CLASS` or `TOO_FEW_EPOCHS` (nothing logged, nothing registered).
    MlflowUnavailableError
        When MLflow stays unreachable (checked before the calibration's minutes of work).
    """
    tracker.fail_abandoned_runs(CALIBRATION_EXPERIMENT, older_than_s=TRAIN_TIMEOUT_S)
    sessions = read_subject_sessions(s3, request)
    data = select_characters(
        make_calibration_data(
            sessions.features, groups=sessions.groups,
            trials_by_session=sessions.trials_by_session,
            seconds_per_flash=sessions.seconds_per_flash,
        ),
        request.characters,
    )  # fmt: skip
    result = calibrate(data, candidates=request.candidates, n_folds=request.n_folds,
                       inner_folds=INNER_FOLDS, seed=request.seed)  # fmt: skip
    return _log_and_register(tracker, request, sessions, result)


def read_subject_sessions(s3, request: CalibrateRequest) -> SubjectSessions:
    """The subject's features of the study (the sessions asked for), and from its raw
    recordings the speller groups, character marks and flash interval when they are known."""
    prefix = f"{keys.study_prefix(request.study)}subject={request.subject}/"
    found = {}
    for key in list_keys(s3, FEATURES_BUCKET, prefix=prefix):
        try:
            ids = keys.parse_features_key(key)
        except BadKeyError:
            continue
        found[ids.session] = key
    wanted = sorted(found) if request.sessions is None else list(request.sessions)
    missing = [session for session in wanted if session not in found]
    if not found or missing:
        raise ValueError(
            f"subject {request.subject!r} of study {request.study!r} has no processed features "
            f"for sessions {missing or wanted}; it has {sorted(found) or 'none'} (upload the "
            f"recordings to the study and let the pipeline process them)"
        )
    objects, features, layouts = [], {}, {}
    for session in wanted:
        stored = read_object(s3, FEATURES_BUCKET, found[session])
        ids = keys.parse_features_key(found[session])
        version = stored.head.metadata.get(STUDY_VERSION, "")
        objects.append(
            FeaturesObject(found[session], stored.head.version_id, sha256_hex(stored.body),
                           ids.subject, ids.session, stored.body,
                           int(version) if version.isdigit() else None)
        )  # fmt: skip
        features[session] = read_features(stored.body)
        layouts[session] = _raw_metadata(s3, ids)
    groups, trials, seconds = speller_layout(features, layouts)
    return SubjectSessions(objects, groups, trials, seconds, features)


def speller_layout(features: dict, layouts: dict[str, dict[str, str]]):
    """``(groups, trials_by_session, seconds_per_flash)`` from each session's raw metadata.

    ``groups``: the row/column groups when every session names the same matrix, else None;
    ``trials_by_session``: each flash's character from the file's character marks when every
    session has them, else None (then `p300.calibration.calibration_data` splits the flashes at
    the pauses); ``seconds_per_flash``: the median interval between flashes, when the raw
    sampling rate is known.
    """
    matrices = {(m.get("matrix_rows"), m.get("matrix_columns")) for m in layouts.values()}
    groups = None
    if len(matrices) == 1 and None not in (matrix := next(iter(matrices))):
        groups = speller_groups(n_rows=int(matrix[0]), n_cols=int(matrix[1]))
    trials = None
    if all("character_starts" in m for m in layouts.values()):
        trials = {
            session: np.searchsorted(
                np.asarray(json.loads(layouts[session]["character_starts"]), dtype=np.int64),
                f.metadata["onset_sample"].to_numpy(), side="right",
            ) - 1
            for session, f in features.items()
        }  # fmt: skip
    intervals = [
        np.median(np.diff(f.metadata["onset_sample"].to_numpy())) / float(layouts[s]["sfreq"])
        for s, f in features.items()
        if "sfreq" in layouts[s] and len(f.metadata) > 1
    ]
    return groups, trials, float(np.median(intervals)) if intervals else None


def select_characters(data: CalibrationData, characters: tuple[int, int] | None) -> CalibrationData:
    """The epochs of characters ``first..last`` (from 1, within each session); all when None.

    Raises
    ------
    ValueError
        When the flashes' characters are unknown, or none of the epochs is of those characters.
    """
    if characters is None:
        return data
    first, last = characters
    if data.trials is None:
        raise ValueError(
            "characters were asked for, but the flashes' characters are unknown: their features "
            "carry no stim_item and their recordings no character marks"
        )
    number = np.array([int(str(trial).rpartition("/")[2]) for trial in data.trials])
    chosen = (number >= first - 1) & (number <= last - 1)
    if not chosen.any():
        raise ValueError(
            f"characters {first}-{last} hold no kept epoch; the sessions have characters 1-"
            f"{int(number.max()) + 1}"
        )
    return data.subset(chosen)


def _raw_metadata(s3, ids) -> dict[str, str]:
    """The raw recording's Parquet schema metadata (importer keys), or {} when it is gone."""
    try:
        body = read_object(s3, RAW_BUCKET, keys.raw_key(ids)).body
    except MissingObjectError:
        return {}
    schema = pq.read_schema(io.BytesIO(body))
    return {k.decode(): v.decode() for k, v in (schema.metadata or {}).items()}


def _log_and_register(
    tracker: MlflowTracker,
    request: CalibrateRequest,
    sessions: SubjectSessions,
    result: CalibrationResult,
) -> CalibrateResult:
    identity = study_tags(request.study, study_version_of(sessions.objects)) | {
        SUBJECT_TAG: request.subject, KIND_TAG: SUBJECT_KIND,
    }  # fmt: skip
    name = subject_model_name(request.study, request.subject)
    run_id = tracker.start_run(
        CALIBRATION_EXPERIMENT, run_name=f"{request.study}-{request.subject}-calibration",
        tags=identity,
    )  # fmt: skip
    try:
        manifest = json_bytes(dataset_manifest(sessions.objects, study=request.study))
        manifest_sha256 = sha256_hex(manifest)
        logged = tracker.log_sklearn_model(
            run_id, result.model, pip_requirements=_pip_requirements(result.model_name)
        )
        info = features_schema_info(next(iter(sessions.features.values())))
        tracker.log_values(
            run_id,
            params=calibration_params(request, result, sessions) | {
                "params_hash": info.params_hash, "n_features": info.n_features,
            },
            metrics=calibration_metrics(result),
            tags={MANIFEST_TAG: manifest_sha256, "p300.selection_reason": result.selection.reason},
            model=logged,
        )  # fmt: skip
        tracker.log_files(run_id, {
            "calibration.json": json_bytes(result.summary()),
            "feature_schema.json": json_bytes(info.to_dict()),
            "dataset_manifest.json": manifest,
        })  # fmt: skip
        tracker.end_run(run_id)
        alias = _alias(tracker, name) if request.auto_set_alias else None
        version = tracker.register(logged.uri, run_id, name=name, alias=alias, tags=identity)
        _tag_registered_model(tracker, name, identity)
    except BaseException:
        tracker.mark_failed(run_id)
        raise
    return CalibrateResult(
        run_id=run_id, model_name=name, model_version=version, alias=alias,
        study=request.study, subject=request.subject, classifier=result.model_name,
        reason=result.selection.reason, sessions=list(sessions.features),
        characters=None if request.characters is None else list(request.characters),
        n_epochs=result.n_epochs, n_target=result.n_target,
        evaluation=result.evaluation.to_dict(), dataset_manifest_sha256=manifest_sha256,
    )  # fmt: skip


def calibration_params(
    request: CalibrateRequest, result: CalibrationResult, sessions: SubjectSessions
) -> dict:
    """The run's parameters: what was asked, what was chosen, how it was evaluated."""
    evaluation = result.evaluation
    return {
        "study": request.study,
        "subject": request.subject,
        "sessions": list(sessions.features),
        "characters": None if request.characters is None else list(request.characters),
        "candidates": list(request.candidates),
        "model_name": result.model_name,
        "n_folds": request.n_folds,
        "inner_folds": INNER_FOLDS,
        "seed": request.seed,
        "evaluation": evaluation.scheme,
        "evaluation_split": evaluation.description,
        "n_epochs": result.n_epochs,
        "n_target": result.n_target,
    }


def calibration_metrics(result: CalibrationResult) -> dict[str, float | None]:
    """ROC-AUC (mean and per fold), each candidate's inner ROC-AUC, character accuracy and ITR
    by number of repetitions (``_r<r>``), balanced accuracy and kappa."""
    evaluation = result.evaluation
    metrics: dict[str, float | None] = {
        "roc_auc": evaluation.roc_auc,
        "balanced_accuracy": evaluation.metrics.balanced_accuracy,
        "kappa": evaluation.metrics.kappa,
    }
    metrics |= {f"fold_{i}_roc_auc": auc for i, auc in enumerate(evaluation.fold_roc_auc)}
    metrics |= {f"inner_roc_auc_{name}": auc for name, auc in result.selection.scores.items()}
    if evaluation.item_accuracy is not None:
        accuracy = evaluation.item_accuracy
        metrics |= {
            f"item_accuracy_r{int(r)}": float(a)
            for r, a in zip(accuracy.n_repetitions, accuracy.accuracy, strict=True)
        }
    for r, bits in enumerate(evaluation.itr_bits_per_minute or (), start=1):
        metrics[f"itr_bits_per_minute_r{r}"] = bits
    return metrics


def _alias(tracker: MlflowTracker, name: str) -> str:
    """``challenger``, or ``champion`` when the subject's model has no champion yet."""
    from mlflow.exceptions import MlflowException

    def has_champion() -> bool:
        try:
            tracker.client.get_model_version_by_alias(name, CHAMPION_ALIAS)
        except MlflowException as exc:
            if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                return False
            raise
        return True

    champion = tracker.retry(has_champion, what=f"look up {name}'s champion")
    return CHALLENGER_ALIAS if champion else CHAMPION_ALIAS


def _tag_registered_model(tracker: MlflowTracker, name: str, tags: dict[str, str]) -> None:
    for key, value in tags.items():
        tracker.retry(
            lambda key=key, value=value: tracker.client.set_registered_model_tag(name, key, value),
            what=f"tag {name} {key}",
        )
