"""Tests for the model registry and its pipelines."""

import pickle

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from p300.models import (
    DEFAULT_MODEL,
    MODEL_NAMES,
    EpochReshaper,
    make_model,
    model_params,
    needs_channels,
)

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
    return make_model(name, n_channels=N_CHANNELS)


def spatial_epochs(n_epochs: int, n_channels: int, *, seed: int):
    """Flattened epochs (µV) of any montage, -0.1…0.6 s: white noise mixed by one fixed spatial
    pattern per montage, and on targets a P300-like bump (+4 µV at 0.35 s) with a smooth
    topography. 64 channels get a coarser time grid, which keeps LDA's 64 × 12 features fast."""
    rng = np.random.default_rng(seed)
    labels = (np.arange(n_epochs) % 6 == 0).astype(np.int8)
    times = np.linspace(-0.1, 0.6, 36 if n_channels <= 16 else 12)
    bump = 4.0 * np.exp(-((times - 0.35) ** 2) / (2 * 0.08**2))
    topography = np.cos(np.linspace(0, np.pi, n_channels)) ** 2
    spatial = np.random.default_rng(n_channels).normal(0, 1, (n_channels, n_channels))
    mixing = spatial / np.sqrt(n_channels) + np.eye(n_channels)
    white = rng.normal(0, 5.0, (n_epochs, n_channels, len(times)))
    epochs = (
        np.einsum("ck,ekt->ect", mixing, white) + labels[:, None, None] * topography[:, None] * bump
    )
    return epochs.reshape(n_epochs, -1).astype(np.float32), labels


def test_registry_lists_lda_first_as_default():
    assert MODEL_NAMES[0] == DEFAULT_MODEL == "lda"
    assert set(MODEL_NAMES) == {"lda", "xdawn-riemann", "xdawn-mdm"}
    assert [needs_channels(name) for name in MODEL_NAMES] == [False, True, True]


def test_unknown_name_lists_allowed_names():
    with pytest.raises(
        ValueError, match=r"one of \['lda', 'xdawn-riemann', 'xdawn-mdm'\]; got 'svm'"
    ):
        make_model("svm")


@pytest.mark.parametrize("name", ["xdawn-riemann", "xdawn-mdm"])
def test_riemannian_models_need_the_channel_count(name):
    with pytest.raises(ValueError, match=rf"model '{name}' needs n_channels, the channel count"):
        make_model(name)


@pytest.mark.parametrize("n_channels", [4, 8, 14, 64])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_model_fits_any_montage(name, n_channels):
    X_train, y_train = spatial_epochs(360, n_channels, seed=n_channels)
    X_test, y_test = spatial_epochs(240, n_channels, seed=100 + n_channels)
    model = make_model(name, n_channels=n_channels).fit(X_train, y_train)
    scores = model.decision_function(X_test)
    assert scores.shape == (240,) and np.isfinite(scores).all()
    assert roc_auc_score(y_test, scores) > 0.8
    probabilities = model.predict_proba(X_test)[:, 1]
    # The score orders epochs as the target probability does (up to ties of saturated ones).
    assert roc_auc_score(y_test, probabilities) == pytest.approx(
        roc_auc_score(y_test, scores), abs=0.01
    )


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
        ("xdawn-mdm", {"n_channels": 0}, "n_channels must be a positive integer; got 0"),
    ],
)
def test_bad_hyperparameters_are_rejected(name, params, message):
    with pytest.raises(ValueError, match=message):
        make_model(name, **{"n_channels": 4} | params)


def test_model_params_exposes_tunable_defaults():
    assert model_params("lda") == {"shrinkage": "auto"}
    assert model_params("xdawn-riemann") == {"nfilter": 4, "C": 1.0, "estimator": "lwf"}
    assert model_params("xdawn-mdm") == {"nfilter": 4, "estimator": "lwf"}


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
