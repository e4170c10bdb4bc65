"""Per-subject calibration: choose, fit and honestly evaluate one subject's own model.

A speller is calibrated on a few minutes of its user's copy-spelling and then used by that user.
`calibrate` does that with one subject's epochs and evaluates it the way MOABB does:

- **cross-session** when the subject has more than one session: fitted on the earlier sessions,
  scored on the last (a lab calibrates on what it has and uses the model later);
- **within-session** otherwise: stratified k-fold over the epochs, each epoch scored by a model
  fitted without it. When the flashes' trials (characters) are known and there are at least k of
  them, the folds keep each trial whole (stricter than MOABB: no character is both fitted and
  decoded), so the out-of-fold scores also give an honest character accuracy.

The model is chosen among candidates by an inner stratified k-fold ROC-AUC on the training data
only (nested cross-validation: the evaluation never sees the choice being made on its data), and
the inner scores are kept as the reason for the choice. Item (character) accuracy by number of
repetitions and the information transfer rate are computed when the items are known.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from p300.decoding import (
    RepetitionAccuracy,
    count_repetitions,
    flashed_item_sets,
    item_accuracy_by_repetition,
    split_trials,
    true_items,
)
from p300.evaluation import BinaryMetrics, binary_metrics, information_transfer_rate
from p300.models import MODEL_NAMES, make_model
from p300.types import EpochFeatures

#: Models calibration chooses among, in order of preference on ties.
CANDIDATES = ("lda", "xdawn-riemann", "xdawn-mdm")
#: Error codes of `CalibrationError`.
ONE_CLASS, TOO_FEW_EPOCHS = "ONE_CLASS", "TOO_FEW_EPOCHS"


class CalibrationError(ValueError):
    """The calibration data cannot be used; ``code`` is `ONE_CLASS` or `TOO_FEW_EPOCHS`."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code


@dataclass(frozen=True)
class CalibrationData:
    """One subject's epochs for calibration, in time order.

    Attributes
    ----------
    X : ndarray, shape (n_epochs, n_channels * n_times)
        Flattened epochs in µV (`EpochFeatures.features`).
    y : ndarray, shape (n_epochs,)
        1 target, 0 non-target.
    n_channels : int
        Channels per epoch (the features schema's ``len(ch_names)``).
    sessions : ndarray of str, shape (n_epochs,)
        Session of each epoch; sessions appear in time order (the first seen is the earliest).
    items : ndarray of int, shape (n_epochs,), optional
        ``stim_item`` of each epoch (the item or row/column group flashed; -1 unknown).
    trials : ndarray, shape (n_epochs,), optional
        Trial (character) of each epoch, distinct across sessions.
    groups : sequence or mapping, optional
        ``stim_item`` → the items it shows (`p300.decoding.speller_groups`); None: each
        ``stim_item`` is one item.
    seconds_per_flash : float, optional
        Stimulus onset asynchrony in s, for the information transfer rate.
    """

    X: np.ndarray
    y: np.ndarray
    n_channels: int
    sessions: np.ndarray
    items: np.ndarray | None = None
    trials: np.ndarray | None = None
    groups: Sequence | Mapping | None = None
    seconds_per_flash: float | None = None

    def subset(self, mask: np.ndarray) -> "CalibrationData":
        """The epochs where ``mask`` (shape (n_epochs,), bool) is true."""

        def pick(values):
            return None if values is None else values[mask]

        return CalibrationData(
            self.X[mask], self.y[mask], self.n_channels, self.sessions[mask],
            pick(self.items), pick(self.trials), self.groups, self.seconds_per_flash,
        )  # fmt: skip


def calibration_data(
    features_by_session: Mapping[str, EpochFeatures],
    *,
    groups: Sequence | Mapping | None = None,
    trials_by_session: Mapping[str, np.ndarray] | None = None,
    seconds_per_flash: float | None = None,
) -> CalibrationData:
    """One subject's preprocessed sessions as `CalibrationData`.

    Parameters
    ----------
    features_by_session : mapping session id -> EpochFeatures
        In time order, all with the same channels and preprocessing.
    groups, seconds_per_flash
        As in `CalibrationData`.
    trials_by_session : mapping session id -> ndarray, shape (n_flashes,), optional
        Trial of every flash of the session (kept or not, in onset order), e.g. from an
        importer's character marks. By default `p300.decoding.split_trials` of the onsets when
        the flashes carry items (``stim_item``), else none: trials serve item decoding.
    """
    if not features_by_session:
        raise ValueError("features_by_session must hold at least one session; got none")
    shapes = {(f.ch_names, f.features.shape[1]) for f in features_by_session.values()}
    if len(shapes) > 1:
        raise ValueError(f"sessions must share channels and feature size; got {sorted(shapes)}")
    with_items = all((f.metadata["stim_item"] >= 0).any() for f in features_by_session.values())
    parts = []
    for session, features in features_by_session.items():
        metadata = features.metadata
        kept = metadata["kept"].to_numpy()
        if trials_by_session is not None:
            per_flash = np.asarray(trials_by_session[session])
        elif with_items:
            per_flash = split_trials(metadata["onset_sample"].to_numpy())
        else:
            per_flash = None
        if per_flash is not None and len(per_flash) != len(metadata):
            raise ValueError(
                f"trials_by_session[{session!r}] must have one entry per flash "
                f"({len(metadata)}); got {len(per_flash)}"
            )
        trials = (
            None
            if per_flash is None
            else np.array([f"{session}/{trial}" for trial in per_flash[kept]], dtype=object)
        )
        items = metadata["stim_item"].to_numpy()[kept]
        parts.append((features.features, features.labels, session, items, trials))
    has_trials = parts[0][4] is not None
    return CalibrationData(
        X=np.concatenate([part[0] for part in parts]),
        y=np.concatenate([part[1] for part in parts]).astype(int),
        n_channels=len(next(iter(features_by_session.values())).ch_names),
        sessions=np.concatenate([np.full(len(part[1]), part[2], dtype=object) for part in parts]),
        items=np.concatenate([part[3] for part in parts]),
        trials=np.concatenate([part[4] for part in parts]) if has_trials else None,
        groups=groups,
        seconds_per_flash=seconds_per_flash,
    )


@dataclass(frozen=True)
class ModelSelection:
    """Why a model was chosen: each candidate's mean inner cross-validated ROC-AUC.

    ``scores`` is empty when a single candidate was given (the caller chose).
    """

    model_name: str
    scores: dict[str, float]
    n_folds: int

    @property
    def reason(self) -> str:
        if not self.scores:
            return f"{self.model_name}: the only candidate"
        others = ", ".join(
            f"{name} {score:.3f}" for name, score in self.scores.items() if name != self.model_name
        )
        best = self.scores[self.model_name]
        return f"{self.model_name}: best inner {self.n_folds}-fold ROC-AUC {best:.3f} ({others})"

    def to_dict(self) -> dict:
        return {"model_name": self.model_name, "scores": dict(self.scores),
                "n_folds": self.n_folds, "reason": self.reason}  # fmt: skip


@dataclass(frozen=True)
class CalibrationEvaluation:
    """How well the calibration procedure did on epochs it was not fitted on.

    Attributes
    ----------
    scheme : str
        ``"cross-session"`` or ``"within-session"``.
    description : str
        The split in words.
    train_sessions, test_sessions : tuple of str
    roc_auc : float
        Mean of ``fold_roc_auc``, as MOABB reports it (pooling scores of different folds would
        mix the score scales of models fitted, and possibly chosen, apart).
    fold_roc_auc : tuple of float
        ROC-AUC of each outer fold (the held-out session for cross-session).
    metrics : BinaryMetrics
        Counts and threshold metrics on the held-out session, or on every epoch's out-of-fold
        prediction.
    fold_models : tuple of str
        The model chosen (by inner cross-validation) in each outer fold.
    item_accuracy : RepetitionAccuracy or None
        Item (character) accuracy by number of repetitions, when items and trials are known.
    itr_bits_per_minute : tuple of float or None
        Wolpaw information transfer rate at each number of repetitions, when the stimulus onset
        asynchrony is known (flashes only; pauses between characters are not counted).
    """

    scheme: str
    description: str
    train_sessions: tuple[str, ...]
    test_sessions: tuple[str, ...]
    roc_auc: float
    fold_roc_auc: tuple[float, ...]
    metrics: BinaryMetrics
    fold_models: tuple[str, ...]
    item_accuracy: RepetitionAccuracy | None
    itr_bits_per_minute: tuple[float, ...] | None

    def to_dict(self) -> dict:
        return {
            "scheme": self.scheme,
            "description": self.description,
            "train_sessions": list(self.train_sessions),
            "test_sessions": list(self.test_sessions),
            "roc_auc": self.roc_auc,
            "fold_roc_auc": list(self.fold_roc_auc),
            "metrics": self.metrics.to_dict(),
            "fold_models": list(self.fold_models),
            "item_accuracy": None if self.item_accuracy is None else self.item_accuracy.to_dict(),
            "itr_bits_per_minute": (
                None if self.itr_bits_per_minute is None else list(self.itr_bits_per_minute)
            ),
        }


@dataclass(frozen=True)
class CalibrationResult:
    """A subject's calibrated model, why it was chosen, and its honest evaluation.

    ``model`` was fitted on every calibration epoch (within-session) or on the earlier sessions
    (cross-session: the model evaluated on the last session is the one returned).
    """

    model: object
    selection: ModelSelection
    evaluation: CalibrationEvaluation
    n_epochs: int
    n_target: int

    @property
    def model_name(self) -> str:
        return self.selection.model_name

    def summary(self) -> dict:
        """JSON-serialisable description (no model) for experiment trackers."""
        return {"model_name": self.model_name, "selection": self.selection.to_dict(),
                "evaluation": self.evaluation.to_dict(), "n_epochs": self.n_epochs,
                "n_target": self.n_target}  # fmt: skip


def calibrate(
    data: CalibrationData,
    *,
    candidates: Sequence[str] = CANDIDATES,
    n_folds: int = 5,
    inner_folds: int = 3,
    seed: int = 0,
) -> CalibrationResult:
    """Choose, fit and evaluate one subject's model (see the module docstring).

    Parameters
    ----------
    data : CalibrationData
    candidates : sequence of str
        Model names (`p300.models.MODEL_NAMES`) to choose among; one name skips the choice.
    n_folds : int >= 2
        Outer folds of the within-session evaluation.
    inner_folds : int >= 2
        Folds of the inner cross-validation that chooses the model.
    seed : int
        Seeds the fold shuffles.

    Returns
    -------
    CalibrationResult

    Raises
    ------
    CalibrationError
        `ONE_CLASS` when the epochs (or the held-out session) lack targets or non-targets;
        `TOO_FEW_EPOCHS` when a class has fewer epochs than the folds need. The message names the
        counts.
    """
    candidates = _check_options(candidates, n_folds, inner_folds)
    _require_both_classes(data.y, "calibration epochs")
    session_order = list(dict.fromkeys(data.sessions.tolist()))
    if len(session_order) > 1:
        return _cross_session(data, session_order, candidates, inner_folds, seed)
    return _within_session(data, candidates, n_folds, inner_folds, seed)


def _check_options(candidates, n_folds, inner_folds) -> tuple[str, ...]:
    candidates = tuple(candidates)
    unknown = sorted(set(candidates) - set(MODEL_NAMES))
    if not candidates or unknown:
        raise ValueError(
            f"candidates must be a non-empty selection of {list(MODEL_NAMES)}, got "
            f"{list(candidates)}"
        )
    for name, value in (("n_folds", n_folds), ("inner_folds", inner_folds)):
        if not isinstance(value, int) or value < 2:
            raise ValueError(f"{name} must be an integer >= 2, got {value!r}")
    return candidates


def _cross_session(data, session_order, candidates, inner_folds, seed) -> CalibrationResult:
    test_session = session_order[-1]
    is_test = data.sessions == test_session
    train, test = data.subset(~is_test), data.subset(is_test)
    _require_both_classes(test.y, f"held-out session {test_session!r}")
    model, selection = _fit_selected(train, candidates, inner_folds, seed)
    scores, predictions = _scores(model, test.X)
    evaluation = _evaluation(
        test, scores, predictions, [np.arange(len(test.y))], scheme="cross-session",
        description=f"fitted on sessions {session_order[:-1]}, scored on {test_session!r}",
        train_sessions=tuple(session_order[:-1]), test_sessions=(test_session,),
        fold_models=(selection.model_name,),
    )  # fmt: skip
    return CalibrationResult(model, selection, evaluation, len(data.y), int(data.y.sum()))


def _within_session(data, candidates, n_folds, inner_folds, seed) -> CalibrationResult:
    _require_counts(data.y, n_folds, f"{n_folds}-fold cross-validation")
    folds, description = _outer_folds(data, n_folds, seed)
    scores = np.empty(len(data.y))
    predictions = np.empty(len(data.y), dtype=int)
    fold_models = []
    for train_index, test_index in folds:
        train = data.subset(_mask(train_index, len(data.y)))
        model, selection = _fit_selected(train, candidates, inner_folds, seed)
        scores[test_index], predictions[test_index] = _scores(model, data.X[test_index])
        fold_models.append(selection.model_name)
    session = str(data.sessions[0])
    evaluation = _evaluation(
        data, scores, predictions, [test for _, test in folds], scheme="within-session",
        description=description,
        train_sessions=(session,), test_sessions=(session,), fold_models=tuple(fold_models),
    )  # fmt: skip
    model, selection = _fit_selected(data, candidates, inner_folds, seed)
    return CalibrationResult(model, selection, evaluation, len(data.y), int(data.y.sum()))


def _outer_folds(data: CalibrationData, n_folds: int, seed: int):
    n_trials = 0 if data.trials is None else len(set(data.trials.tolist()))
    if n_trials >= n_folds:
        splitter = StratifiedGroupKFold(n_folds, shuffle=True, random_state=seed)
        folds = list(splitter.split(data.X, data.y, groups=data.trials))
        description = f"stratified {n_folds}-fold, each of {n_trials} trials in one fold"
    else:
        splitter = StratifiedKFold(n_folds, shuffle=True, random_state=seed)
        folds = list(splitter.split(data.X, data.y))
        description = f"stratified {n_folds}-fold over epochs (MOABB within-session)"
    return folds, description


def _fit_selected(data: CalibrationData, candidates, inner_folds, seed):
    """Choose among ``candidates`` by inner cross-validation on ``data``, then fit it on all."""
    if len(candidates) == 1:
        selection = ModelSelection(candidates[0], {}, inner_folds)
    else:
        _require_counts(data.y, inner_folds, f"the inner {inner_folds}-fold model choice")
        splitter = StratifiedKFold(inner_folds, shuffle=True, random_state=seed)
        folds = list(splitter.split(data.X, data.y))
        scores = {
            name: float(np.mean([_fold_auc(name, data, train, test) for train, test in folds]))
            for name in candidates
        }
        best = max(candidates, key=lambda name: scores[name])  # first on ties
        selection = ModelSelection(best, scores, inner_folds)
    model = make_model(selection.model_name, n_channels=data.n_channels).fit(data.X, data.y)
    return model, selection


def _fold_auc(name: str, data: CalibrationData, train, test) -> float:
    model = make_model(name, n_channels=data.n_channels).fit(data.X[train], data.y[train])
    return float(roc_auc_score(data.y[test], model.decision_function(data.X[test])))


def _scores(model, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return (
        np.asarray(model.decision_function(X), dtype=float),
        np.asarray(model.predict(X)).astype(int),
    )


def _evaluation(
    data: CalibrationData, scores, predictions, test_folds, **fields
) -> CalibrationEvaluation:
    """Metrics of the held-out ``scores``; ``test_folds`` lists each fold's epoch indices."""
    accuracy = _item_accuracy(data, scores)
    itr = None
    if accuracy is not None and data.seconds_per_flash:
        itr = _itr(data, accuracy)
    fold_auc = tuple(float(roc_auc_score(data.y[test], scores[test])) for test in test_folds)
    return CalibrationEvaluation(
        roc_auc=float(np.mean(fold_auc)),
        fold_roc_auc=fold_auc,
        metrics=binary_metrics(data.y, scores, predictions),
        item_accuracy=accuracy,
        itr_bits_per_minute=itr,
        **fields,
    )


def _item_accuracy(data: CalibrationData, scores: np.ndarray) -> RepetitionAccuracy | None:
    """Item accuracy by repetitions over the trials whose attended item the targets tell."""
    if data.items is None or data.trials is None:
        return None
    known = data.items >= 0
    if not known.any():
        return None
    flashed = flashed_item_sets(data.items[known], data.groups)
    trials = data.trials[known]
    truth = true_items(flashed, data.y[known], trials)
    decodable = np.isin(trials, list(truth))
    if not decodable.any():
        return None
    flashed = [items for items, use in zip(flashed, decodable, strict=True) if use]
    trials = trials[decodable]
    return item_accuracy_by_repetition(
        scores[known][decodable], flashed, trials=trials,
        repetitions=count_repetitions(flashed, trials=trials), true_items=truth,
    )  # fmt: skip


def _itr(data: CalibrationData, accuracy: RepetitionAccuracy) -> tuple[float, ...]:
    codes = np.unique(data.items[data.items >= 0])
    n_items = len(frozenset().union(*flashed_item_sets(codes, data.groups)))
    flashes_per_repetition = len(codes)
    return tuple(
        information_transfer_rate(
            n_items, float(share), repetitions * flashes_per_repetition * data.seconds_per_flash
        )
        for repetitions, share in zip(accuracy.n_repetitions, accuracy.accuracy, strict=True)
    )


def _require_both_classes(y: np.ndarray, what: str) -> None:
    n_target = int((y == 1).sum())
    if n_target == 0 or n_target == len(y):
        raise CalibrationError(
            ONE_CLASS,
            f"{what} must hold target and non-target epochs; got {n_target} target and "
            f"{len(y) - n_target} non-target",
        )


def _require_counts(y: np.ndarray, n_folds: int, what: str) -> None:
    n_target = int((y == 1).sum())
    n_nontarget = len(y) - n_target
    if min(n_target, n_nontarget) < n_folds:
        raise CalibrationError(
            TOO_FEW_EPOCHS,
            f"too few epochs for {what}: {n_target} target and {n_nontarget} non-target; "
            f"need at least {n_folds} of each",
        )


def _mask(index: np.ndarray, length: int) -> np.ndarray:
    mask = np.zeros(length, dtype=bool)
    mask[index] = True
    return mask
