"""Tests for subject splits, metrics and subject-held-out training."""

import json

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    cohen_kappa_score,
    confusion_matrix,
    roc_auc_score,
)

from p300.evaluation import (
    binary_metrics,
    evaluate_model,
    fit_and_evaluate,
    split_subjects,
)
from p300.models import make_model

SUBJECTS = [f"subject_{i:02d}" for i in range(1, 11)]


def toy_subject(n_epochs: int, *, seed: int, n_channels: int = 4, n_times: int = 30):
    """Flattened toy epochs (µV) whose targets carry a P300-like bump, and their labels."""
    rng = np.random.default_rng(seed)
    labels = (np.arange(n_epochs) % 5 == 0).astype(np.int8)
    times = np.linspace(-0.1, 0.6, n_times)
    bump = 2.5 * np.exp(-((times - 0.3) ** 2) / (2 * 0.05**2))
    epochs = rng.normal(0.0, 2.0, (n_epochs, n_channels, n_times))
    epochs[labels == 1] += bump
    return epochs.reshape(n_epochs, -1).astype(np.float32), labels


@pytest.fixture(scope="module")
def toy_subjects():
    return {s: toy_subject(100, seed=i) for i, s in enumerate(SUBJECTS)}


# --- split_subjects -------------------------------------------------------------------------


@pytest.mark.parametrize(("fraction", "n_train"), [(0.5, 5), (0.75, 8), (0.7, 7), (0.1, 1)])
def test_split_sizes_disjoint_and_complete(fraction, n_train):
    train, test = split_subjects(SUBJECTS, train_fraction=fraction, seed=3)
    assert len(train) == n_train
    assert not set(train) & set(test)
    assert sorted(train + test) == SUBJECTS


def test_split_is_deterministic_and_ignores_input_order():
    first = split_subjects(SUBJECTS, train_fraction=0.5, seed=7)
    again = split_subjects(list(reversed(SUBJECTS)), train_fraction=0.5, seed=7)
    assert first == again
    others = {tuple(split_subjects(SUBJECTS, train_fraction=0.5, seed=s)[0]) for s in range(10)}
    assert len(others) > 1


def test_split_returns_natural_order():
    train, test = split_subjects(["s10", "s2", "s1", "s3"], train_fraction=0.5, seed=0)
    for side in (train, test):
        assert side == sorted(side, key=lambda s: int(s[1:]))


@pytest.mark.parametrize(
    ("subjects", "fraction", "message"),
    [
        (SUBJECTS, 0.0, r"train_fraction must be in \(0, 1\); got 0.0"),
        (SUBJECTS, 1.0, r"train_fraction must be in \(0, 1\); got 1.0"),
        (SUBJECTS, 0.01, "gives 0 training subjects; need at least one subject on each side"),
        (SUBJECTS, 0.97, "gives 10 training subjects; need at least one"),
        (["a"], 0.5, "of 1 subjects gives"),
        (["a", "a", "b"], 0.5, "subjects must be distinct"),
    ],
)
def test_split_errors_are_clear(subjects, fraction, message):
    with pytest.raises(ValueError, match=message):
        split_subjects(subjects, train_fraction=fraction, seed=0)


# --- binary_metrics -------------------------------------------------------------------------


def test_metrics_match_sklearn():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    scores = labels + rng.normal(0, 1.0, 200)
    predictions = (scores > 0.5).astype(int)
    metrics = binary_metrics(labels, scores, predictions)
    tn, fp, fn, tp = confusion_matrix(labels, predictions).ravel()
    assert metrics.roc_auc == pytest.approx(roc_auc_score(labels, scores))
    assert metrics.balanced_accuracy == pytest.approx(balanced_accuracy_score(labels, predictions))
    assert metrics.accuracy == pytest.approx(accuracy_score(labels, predictions))
    assert metrics.kappa == pytest.approx(cohen_kappa_score(labels, predictions))
    assert (metrics.tn, metrics.fp, metrics.fn, metrics.tp) == (tn, fp, fn, tp)
    assert (metrics.n_epochs, metrics.n_target) == (200, labels.sum())


def test_metrics_on_a_known_case():
    metrics = binary_metrics([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9], [0, 1, 0, 1])
    assert metrics.roc_auc == 0.75
    assert metrics.accuracy == metrics.balanced_accuracy == 0.5
    assert metrics.kappa == 0.0
    assert (metrics.tn, metrics.fp, metrics.fn, metrics.tp) == (1, 1, 1, 1)


@pytest.mark.parametrize(
    ("labels", "predictions", "accuracy", "kappa"),
    [([0, 0, 0], [0, 0, 1], 2 / 3, 0.0), ([1, 1], [1, 1], 1.0, None), ([], [], None, None)],
)
def test_one_class_or_empty_gives_none_not_a_crash(labels, predictions, accuracy, kappa):
    metrics = binary_metrics(labels, np.linspace(0, 1, len(labels)), predictions)
    assert metrics.roc_auc is None and metrics.balanced_accuracy is None
    assert metrics.accuracy == (pytest.approx(accuracy) if accuracy is not None else None)
    assert metrics.kappa == kappa
    json.dumps(metrics.to_dict())


@pytest.mark.parametrize(
    ("labels", "predictions", "message"),
    [
        ([0, 2], [0, 1], r"labels must be 0 \(non-target\) or 1 \(target\); got values \[2\]"),
        ([0, 1], [0, -1], r"predictions must be 0 .* got values \[-1\]"),
        ([0, 1, 1], [0, 1], "same length; got 3, 3, 2"),
    ],
)
def test_metrics_reject_bad_input(labels, predictions, message):
    with pytest.raises(ValueError, match=message):
        binary_metrics(labels, np.zeros(len(labels)), predictions)


# --- evaluate_model and fit_and_evaluate ----------------------------------------------------


def test_evaluating_a_training_subject_is_refused(toy_subjects):
    model = make_model("lda").fit(*toy_subjects["subject_01"])
    with pytest.raises(ValueError, match=r"must not use training subjects; got \['subject_01'\]"):
        evaluate_model(model, toy_subjects, train_subjects=["subject_01"])


def test_evaluation_handles_a_one_class_subject(toy_subjects):
    model = make_model("lda").fit(*toy_subjects["subject_01"])
    X, y = toy_subjects["subject_02"]
    held_out = {"subject_02": (X, y), "only_nontargets": (X[y == 0], y[y == 0])}
    report, scores = evaluate_model(model, held_out, train_subjects=["subject_01"])
    assert report.per_subject["only_nontargets"].roc_auc is None
    assert report.per_subject["subject_02"].roc_auc > 0.7
    assert report.pooled.n_epochs == len(y) + np.sum(y == 0)
    assert set(scores) == set(held_out)


@pytest.mark.parametrize("model_name", ["lda", "xdawn-riemann"])
def test_fit_and_evaluate_holds_subjects_out(toy_subjects, model_name):
    params = {"n_channels": 4, "nfilter": 2} if model_name == "xdawn-riemann" else {}
    result = fit_and_evaluate(
        toy_subjects, model_name=model_name, train_fraction=0.5, seed=1, **params
    )
    assert set(result.split.train).isdisjoint(result.report.per_subject)
    assert set(result.report.per_subject) == set(result.split.test) == set(result.test_scores)
    assert result.n_train_epochs == 5 * 100
    assert result.report.pooled.roc_auc > 0.8
    assert result.report.pooled.n_epochs == 500
    summary = json.loads(json.dumps(result.summary()))
    assert summary["split"]["train"] == list(result.split.train)
    assert summary["model_params"] == params
    assert summary["metrics"]["pooled"]["roc_auc"] == result.report.pooled.roc_auc


def test_fit_and_evaluate_with_explicit_training_subjects(toy_subjects):
    result = fit_and_evaluate(toy_subjects, train_subjects=SUBJECTS[:5])
    assert result.split.train == tuple(SUBJECTS[:5])
    assert result.split.test == tuple(SUBJECTS[5:])
    assert result.split.train_fraction is None
    assert result.model.decision_function(toy_subjects["subject_06"][0]).shape == (100,)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "give exactly one of train_fraction or train_subjects"),
        ({"train_fraction": 0.5, "train_subjects": ["subject_01"]}, "give exactly one"),
        ({"train_subjects": ["nobody"]}, r"train_subjects \['nobody'\] are not in"),
        ({"train_subjects": "subject_01"}, "a sequence of ids; got the string 'subject_01'"),
        ({"train_subjects": SUBJECTS}, "need at least one subject on each side"),
        ({"train_fraction": 0.5, "model_name": "svm"}, "model name must be one of"),
    ],
)
def test_fit_and_evaluate_errors(toy_subjects, options, message):
    with pytest.raises(ValueError, match=message):
        fit_and_evaluate(toy_subjects, **options)


def test_training_needs_both_classes(toy_subjects):
    X, y = toy_subjects["subject_01"]
    data = {"a": (X[y == 0], y[y == 0]), "b": toy_subjects["subject_02"]}
    with pytest.raises(ValueError, match=r"training subjects \['a'\] must contain both classes"):
        fit_and_evaluate(data, train_subjects=["a"])


def test_fit_and_evaluate_on_preprocessed_synthetic_sessions():
    from p300.preprocessing import preprocess
    from p300.synthetic import subject_session

    cohort = {
        f"subject_{n:02d}": preprocess(subject_session(seed=5, subject_number=n, duration_s=60.0))
        for n in (1, 2, 3)
    }
    data = {s: (f.features, f.labels) for s, f in cohort.items()}
    result = fit_and_evaluate(
        data,
        model_name="xdawn-riemann",
        train_subjects=["subject_01", "subject_02"],
        n_channels=len(cohort["subject_01"].ch_names),
    )
    assert result.split.test == ("subject_03",)
    assert result.report.pooled.n_epochs == len(cohort["subject_03"].labels)
    assert result.report.pooled.roc_auc > 0.55  # above chance across subjects
