"""Tests for the model registry and its pipelines."""

import pickle

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from p300.models import DEFAULT_MODEL, MODEL_NAMES, EpochReshaper, make_model, model_params

N_CHANNELS, N_TIMES = 4, 30


def toy_features(n_epochs: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Flattened toy epochs (µV): targets carry a bump at ~0.3 s on every channel."""
    rng = np.random.default_rng(seed)
    labels = (np.arange(n_epochs) % 5 == 0).astype(np.int8)
    times = np.linspace(-0.1, 0.6, N_TIMES)
    bump = 3.0 * np.exp(-((times - 0.3) ** 2) / (2 * 0.05**2))
    epochs = rng.normal(0.0, 2.0, (n_epochs, N_CHANNELS, N_TIMES))
    epochs[labels == 1] += bump * np.linspace(1.0, 0.5, N_CHANNELS)[:, None]
    return epochs.reshape(n_epochs, -1).astype(np.float32), labels


def model_for(name: str):
    return make_model(name, n_channels=N_CHANNELS) if name == "xdawn-riemann" else make_model(name)


def test_registry_lists_lda_first_as_default():
    assert MODEL_NAMES[0] == DEFAULT_MODEL == "lda"
    assert set(MODEL_NAMES) == {"lda", "xdawn-riemann"}


def test_unknown_name_lists_allowed_names():
    with pytest.raises(ValueError, match=r"one of \['lda', 'xdawn-riemann'\]; got 'svm'"):
        make_model("svm")


def test_unknown_parameter_lists_allowed_parameters():
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['nfilter'\].*'shrinkage'"):
        make_model("lda", nfilter=2)


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("lda", {"shrinkage": 1.5}, "shrinkage must be 'auto' or a number in"),
        ("lda", {"shrinkage": "ledoit"}, "shrinkage must be"),
        ("xdawn-riemann", {"nfilter": 0}, "nfilter must be a positive integer; got 0"),
        ("xdawn-riemann", {"C": -1.0}, "C must be a positive number; got -1.0"),
    ],
)
def test_bad_hyperparameters_are_rejected(name, params, message):
    with pytest.raises(ValueError, match=message):
        make_model(name, **params)


def test_model_params_exposes_tunable_defaults():
    assert model_params("lda") == {"shrinkage": "auto"}
    assert model_params("xdawn-riemann") == {
        "n_channels": 16,
        "nfilter": 4,
        "C": 1.0,
        "estimator": "lwf",
    }


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_pipeline_learns_toy_p300_and_survives_pickle(name):
    X_train, y_train = toy_features(300, seed=1)
    X_test, y_test = toy_features(200, seed=2)
    model = model_for(name).fit(X_train, y_train)
    scores = model.decision_function(X_test)
    assert scores.shape == (200,)
    assert roc_auc_score(y_test, scores) > 0.85
    assert set(np.unique(model.predict(X_test))) <= {0, 1}

    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.decision_function(X_test), scores)


@pytest.mark.parametrize("shrinkage", [0.0, 0.5, "auto"])
def test_lda_accepts_fixed_or_automatic_shrinkage(shrinkage):
    X, y = toy_features(100, seed=3)
    model = make_model("lda", shrinkage=shrinkage).fit(X, y)
    assert model.named_steps["lda"].shrinkage == shrinkage


def test_reshaper_restores_channel_major_epochs():
    epochs = np.arange(2 * 3 * 5).reshape(2, 3, 5)
    out = EpochReshaper(n_channels=3).fit_transform(epochs.reshape(2, -1))
    np.testing.assert_array_equal(out, epochs)


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((2, 3, 5), "must be 2-D"),
        ((2, 16), "16 features per epoch, not a multiple of n_channels=3"),
    ],
)
def test_reshaper_rejects_bad_shapes(shape, message):
    with pytest.raises(ValueError, match=message):
        EpochReshaper(n_channels=3).transform(np.zeros(shape))
