"""Subject-held-out training and evaluation of P300 classifiers.

Data come as ``features_by_subject``: a mapping from subject id to ``(X, y)`` with X, shape
(n_epochs, n_features), the flattened epochs in µV, and y, shape (n_epochs,), 1 target / 0
non-target. Models are trained on some subjects and evaluated only on the others; the training
subjects are recorded in the result and :func:`evaluate_model` refuses to score any of them.
"""

import math
import random
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    cohen_kappa_score,
    roc_auc_score,
)

from p300.models import DEFAULT_MODEL, make_model


@dataclass(frozen=True)
class SubjectSplit:
    """Which subjects a model was trained on and which it is evaluated on (disjoint, sorted)."""

    train: tuple[str, ...]
    test: tuple[str, ...]
    train_fraction: float | None = None
    seed: int | None = None

    def to_dict(self) -> dict:
        return {**asdict(self), "train": list(self.train), "test": list(self.test)}


@dataclass(frozen=True)
class BinaryMetrics:
    """Target-vs-non-target metrics on a set of epochs; None where a metric is undefined.

    ROC-AUC and balanced accuracy need both classes; Cohen's kappa is undefined when labels and
    predictions are all one and the same class.
    """

    n_epochs: int
    n_target: int
    roc_auc: float | None
    balanced_accuracy: float | None
    accuracy: float | None
    kappa: float | None
    tn: int
    fp: int
    fn: int
    tp: int

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SubjectScores:
    """Classifier output for one subject's epochs, all arrays shape (n_epochs,)."""

    labels: np.ndarray
    scores: np.ndarray
    predictions: np.ndarray


@dataclass(frozen=True)
class EvaluationReport:
    """Metrics pooled over all evaluated epochs and per subject."""

    pooled: BinaryMetrics
    per_subject: dict[str, BinaryMetrics]

    def to_dict(self) -> dict:
        return {
            "pooled": self.pooled.to_dict(),
            "per_subject": {s: m.to_dict() for s, m in self.per_subject.items()},
        }


@dataclass(frozen=True)
class TrainingResult:
    """A fitted model, the subject split it came from, and its held-out evaluation.

    ``test_scores`` holds the held-out labels, scores and predictions per subject (for plots).
    """

    model: object
    model_name: str
    model_params: dict
    split: SubjectSplit
    report: EvaluationReport
    test_scores: dict[str, SubjectScores]
    fit_seconds: float
    n_train_epochs: int

    def summary(self) -> dict:
        """JSON-serialisable description (no model, no arrays) for experiment trackers."""
        return {
            "model_name": self.model_name,
            "model_params": dict(self.model_params),
            "split": self.split.to_dict(),
            "metrics": self.report.to_dict(),
            "fit_seconds": self.fit_seconds,
            "n_train_epochs": self.n_train_epochs,
        }


def split_subjects(
    subjects: Iterable[str], *, train_fraction: float, seed: int
) -> tuple[list[str], list[str]]:
    """Split subjects at random into training and held-out sets.

    Parameters
    ----------
    subjects : iterable of str
        Distinct subject ids; their order does not matter.
    train_fraction : float in (0, 1)
        Share of subjects to train on; the count is rounded half up.
    seed : int
        Seed of the shuffle: the same seed and subjects always give the same split.

    Returns
    -------
    train, test : list of str
        Disjoint, each non-empty, each in natural order ("s2" before "s10").
    """
    ordered = _natural_sorted(subjects)
    if len(set(ordered)) != len(ordered):
        raise ValueError(f"subjects must be distinct; got {ordered}")
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must be in (0, 1); got {train_fraction!r}")
    n_train = math.floor(train_fraction * len(ordered) + 0.5)
    if not 1 <= n_train <= len(ordered) - 1:
        raise ValueError(
            f"train_fraction={train_fraction} of {len(ordered)} subjects gives {n_train} training "
            "subjects; need at least one subject on each side of the split"
        )
    shuffled = ordered.copy()
    random.Random(seed).shuffle(shuffled)
    return _natural_sorted(shuffled[:n_train]), _natural_sorted(shuffled[n_train:])


def binary_metrics(labels, scores, predictions) -> BinaryMetrics:
    """Classification metrics of one set of epochs.

    Parameters
    ----------
    labels : array-like, shape (n_epochs,)
        True classes, 1 target / 0 non-target.
    scores : array-like, shape (n_epochs,)
        Continuous classifier output, larger = more target-like (for ROC-AUC).
    predictions : array-like, shape (n_epochs,)
        Predicted classes, 0/1.
    """
    labels, scores, predictions = (np.asarray(a).ravel() for a in (labels, scores, predictions))
    if not len(labels) == len(scores) == len(predictions):
        raise ValueError(
            "labels, scores and predictions must have the same length; got "
            f"{len(labels)}, {len(scores)}, {len(predictions)}"
        )
    _check_binary("labels", labels)
    _check_binary("predictions", predictions)
    tn, fp, fn, tp = (
        int(np.sum((labels == true) & (predictions == predicted)))
        for true, predicted in ((0, 0), (0, 1), (1, 0), (1, 1))
    )
    both_classes = len(np.unique(labels)) == 2
    return BinaryMetrics(
        n_epochs=len(labels),
        n_target=int(np.sum(labels == 1)),
        roc_auc=float(roc_auc_score(labels, scores)) if both_classes else None,
        balanced_accuracy=(
            float(balanced_accuracy_score(labels, predictions)) if both_classes else None
        ),
        accuracy=float(accuracy_score(labels, predictions)) if len(labels) else None,
        kappa=_kappa(labels, predictions),
        tn=tn,
        fp=fp,
        fn=fn,
        tp=tp,
    )


def wolpaw_bits(n_items: int, accuracy: float) -> float:
    """Bits per selection of a choice among ``n_items`` made with ``accuracy`` (Wolpaw 2002).

    ``log2 N + P log2 P + (1 - P) log2((1 - P) / (N - 1))``; 0 at or below chance (P ≤ 1/N).
    """
    if not (isinstance(n_items, int | np.integer) and n_items >= 2):
        raise ValueError(f"n_items must be an integer >= 2, got {n_items!r}")
    if not 0.0 <= accuracy <= 1.0:
        raise ValueError(f"accuracy must be between 0 and 1, got {accuracy!r}")
    if accuracy <= 1.0 / n_items:
        return 0.0
    bits = math.log2(n_items) + accuracy * math.log2(accuracy)
    if accuracy < 1.0:
        bits += (1 - accuracy) * math.log2((1 - accuracy) / (n_items - 1))
    return bits


def information_transfer_rate(n_items: int, accuracy: float, seconds_per_selection: float) -> float:
    """Wolpaw information transfer rate in bits per minute.

    Parameters
    ----------
    n_items : int
        Candidates per selection (e.g. 48 cells of a 6 × 8 speller).
    accuracy : float in [0, 1]
        Share of correct selections.
    seconds_per_selection : float > 0
        Time one selection takes, in s (flashes × stimulus onset asynchrony, plus any pause).
    """
    if not seconds_per_selection > 0:
        raise ValueError(f"seconds_per_selection must be > 0 s, got {seconds_per_selection!r}")
    return wolpaw_bits(n_items, accuracy) * 60.0 / seconds_per_selection


def evaluate_model(
    model, features_by_subject: Mapping[str, tuple], *, train_subjects: Iterable[str]
) -> tuple[EvaluationReport, dict[str, SubjectScores]]:
    """Score a fitted model on held-out subjects, per subject and pooled.

    Parameters
    ----------
    model : fitted classifier with ``decision_function`` and ``predict``
    features_by_subject : mapping str -> (X, y)
        Held-out subjects only: X, shape (n_epochs, n_features) in µV; y, shape (n_epochs,).
    train_subjects : iterable of str
        The subjects the model was trained on; evaluating any of them is an error.
    """
    leaked = sorted(set(features_by_subject) & set(train_subjects))
    if leaked:
        raise ValueError(f"evaluation must not use training subjects; got {leaked}")
    if not features_by_subject:
        raise ValueError("features_by_subject must hold at least one subject; got none")
    subject_scores = {
        subject: _score_subject(model, *features_by_subject[subject])
        for subject in _natural_sorted(features_by_subject)
    }
    per_subject = {
        s: binary_metrics(r.labels, r.scores, r.predictions) for s, r in subject_scores.items()
    }
    pooled = binary_metrics(
        *(np.concatenate([getattr(r, f) for r in subject_scores.values()]) for f in _SCORE_FIELDS)
    )
    return EvaluationReport(pooled=pooled, per_subject=per_subject), subject_scores


def fit_and_evaluate(
    features_by_subject: Mapping[str, tuple],
    *,
    model_name: str = DEFAULT_MODEL,
    train_fraction: float | None = None,
    train_subjects: Sequence[str] | None = None,
    seed: int = 0,
    **model_params,
) -> TrainingResult:
    """Train a model on some subjects and evaluate it on all the others.

    Parameters
    ----------
    features_by_subject : mapping str -> (X, y)
        X, shape (n_epochs, n_channels * n_times), flattened epochs in µV; y, shape (n_epochs,),
        1 target / 0 non-target.
    model_name : str
        One of :data:`p300.models.MODEL_NAMES`.
    train_fraction : float in (0, 1), optional
        Train on this share of subjects chosen by :func:`split_subjects` with ``seed``.
    train_subjects : sequence of str, optional
        Train on exactly these subjects. Give either this or ``train_fraction``.
    seed : int
        Seed of the subject split.
    **model_params
        Hyperparameters passed to :func:`p300.models.make_model`.
    """
    split = _make_split(
        list(features_by_subject),
        train_fraction=train_fraction,
        train_subjects=train_subjects,
        seed=seed,
    )
    X_train = np.concatenate([np.asarray(features_by_subject[s][0]) for s in split.train])
    y_train = np.concatenate([np.asarray(features_by_subject[s][1]) for s in split.train])
    _check_binary("training labels", y_train)
    if len(np.unique(y_train)) != 2:
        raise ValueError(f"training subjects {list(split.train)} must contain both classes")
    model = make_model(model_name, **model_params)
    started = time.perf_counter()
    model.fit(X_train, y_train)
    fit_seconds = time.perf_counter() - started
    report, test_scores = evaluate_model(
        model, {s: features_by_subject[s] for s in split.test}, train_subjects=split.train
    )
    return TrainingResult(
        model=model,
        model_name=model_name,
        model_params=model_params,
        split=split,
        report=report,
        test_scores=test_scores,
        fit_seconds=fit_seconds,
        n_train_epochs=len(y_train),
    )


_SCORE_FIELDS = ("labels", "scores", "predictions")


def _make_split(subjects, *, train_fraction, train_subjects, seed) -> SubjectSplit:
    if (train_fraction is None) == (train_subjects is None):
        raise ValueError(
            "give exactly one of train_fraction or train_subjects; got "
            f"train_fraction={train_fraction!r}, train_subjects={train_subjects!r}"
        )
    if train_fraction is not None:
        train, test = split_subjects(subjects, train_fraction=train_fraction, seed=seed)
        return SubjectSplit(tuple(train), tuple(test), train_fraction=train_fraction, seed=seed)
    if isinstance(train_subjects, str):
        raise ValueError(
            f"train_subjects must be a sequence of ids; got the string {train_subjects!r}"
        )
    unknown = sorted(set(train_subjects) - set(subjects))
    if unknown:
        raise ValueError(f"train_subjects {unknown} are not in features_by_subject {subjects}")
    test = [s for s in subjects if s not in set(train_subjects)]
    if not train_subjects or not test:
        raise ValueError(
            "need at least one subject on each side of the split; got "
            f"train_subjects={list(train_subjects)} of {subjects}"
        )
    return SubjectSplit(tuple(_natural_sorted(train_subjects)), tuple(_natural_sorted(test)))


def _score_subject(model, X, y) -> SubjectScores:
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim != 2 or len(X) != len(y):
        raise ValueError(
            f"X must be shape (n_epochs, n_features) matching y of shape (n_epochs,); got X "
            f"{X.shape}, y {y.shape}"
        )
    if len(y) == 0:
        empty = np.zeros(0)
        return SubjectScores(labels=y.astype(int), scores=empty, predictions=empty.astype(int))
    return SubjectScores(
        labels=y.astype(int),
        scores=np.asarray(model.decision_function(X), dtype=float),
        predictions=np.asarray(model.predict(X)).astype(int),
    )


def _kappa(labels: np.ndarray, predictions: np.ndarray) -> float | None:
    # Undefined (0/0) when labels and predictions are all one and the same class.
    if len(np.unique(np.concatenate([labels, predictions]))) < 2:
        return None
    return float(cohen_kappa_score(labels, predictions))


def _check_binary(name: str, values: np.ndarray) -> None:
    bad = sorted(set(np.unique(values).tolist()) - {0, 1})
    if bad:
        raise ValueError(f"{name} must be 0 (non-target) or 1 (target); got values {bad}")


def _natural_sorted(subjects: Iterable[str]) -> list[str]:
    """Sort ids so that embedded numbers compare as numbers: s2 < s10."""

    def key(subject: str):
        return [
            (0, int(part), "") if part.isdigit() else (1, 0, part)
            for part in re.split(r"(\d+)", str(subject))
        ]

    return sorted(subjects, key=key)
