import pickle

import numpy as np
import pytest
import skops.io

from p300.evaluation import fit_and_evaluate
from p300.feature_selection import (
    feature_columns,
    make_time_selector,
    select_times,
    time_indices,
)
from p300.models import make_model
from tests.synthetic_features import two_session_features

# System A's epochs: -0.1…0.6 s at 100 Hz.
TMIN, SFREQ, N_TIMES = -0.1, 100.0, 71


@pytest.mark.parametrize(
    ("window", "decimation", "expected"),
    [
        (None, 1, np.arange(71)),
        (None, 3, np.arange(0, 71, 3)),
        ((0.0, 0.6), 1, np.arange(10, 71)),
        ((0.0, 0.6), 2, np.arange(10, 71, 2)),
        ((0.25, 0.5), 1, np.arange(35, 61)),
        ((-0.5, 0.8), 1, np.arange(71)),  # reaching past the epoch keeps all of it
    ],
)
def test_time_indices_keep_the_window_then_every_kth(window, decimation, expected):
    kept = time_indices(N_TIMES, tmin=TMIN, sfreq=SFREQ, window=window, decimation=decimation)
    np.testing.assert_array_equal(kept, expected)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"window": (0.3, 0.1)}, r"window start must be before its stop, got \(0.3, 0.1\)"),
        ({"window": (0.7, 0.8)}, r"window \(0.7, 0.8\) s holds no sample of .* -0.1…0.6 s"),
        ({"window": (0.101, 0.105)}, "holds no sample"),
        ({"window": "early"}, "window must be \\(start, stop\\) in s, got 'early'"),
        ({"decimation": 0}, "decimation must be an integer >= 1, got 0"),
        ({"decimation": 1.5}, "decimation must be an integer >= 1, got 1.5"),
        ({"sfreq": 0}, "sfreq must be a positive number of Hz, got 0"),
    ],
)
def test_time_indices_reject(options, match):
    with pytest.raises(ValueError, match=match):
        time_indices(N_TIMES, **{"tmin": TMIN, "sfreq": SFREQ} | options)


def test_select_times_keeps_the_same_samples_of_every_channel():
    n_channels, n_times = 3, 5
    epochs = np.arange(2 * n_channels * n_times).reshape(2, n_channels, n_times)  # µV
    selected = select_times(epochs.reshape(2, -1), n_channels=n_channels, indices=[1, 3])
    np.testing.assert_array_equal(selected, epochs[:, :, [1, 3]].reshape(2, -1))


@pytest.mark.parametrize(
    ("X", "n_channels", "indices", "match"),
    [
        (np.zeros(6), 3, [0], "X must be 2-D"),
        (np.zeros((2, 7)), 3, [0], "not a multiple of n_channels=3"),
        (np.zeros((2, 6)), 0, [0], "n_channels must be a positive integer, got 0"),
        (np.zeros((2, 6)), 3, [0, 2], r"indices must lie in \[0, 2\), got 0…2"),
    ],
)
def test_select_times_rejects(X, n_channels, indices, match):
    with pytest.raises(ValueError, match=match):
        select_times(X, n_channels=n_channels, indices=indices)


def test_feature_columns_are_channel_major():
    np.testing.assert_array_equal(feature_columns(2, 5, [1, 3]), [1, 3, 6, 8])


def test_selector_transforms_like_the_pure_functions_and_checks_the_width():
    X = np.random.default_rng(0).normal(size=(4, 16 * N_TIMES))
    selector = make_time_selector(n_channels=16, n_times=N_TIMES, tmin=TMIN, sfreq=SFREQ,
                                  window=(0.2, 0.5), decimation=2).fit(X)  # fmt: skip
    indices = time_indices(N_TIMES, tmin=TMIN, sfreq=SFREQ, window=(0.2, 0.5), decimation=2)
    np.testing.assert_array_equal(
        selector.transform(X), select_times(X, n_channels=16, indices=indices)
    )
    with pytest.raises(ValueError, match="X has 16 features, but ColumnTransformer is expecting"):
        selector.transform(X[:, :16])


def test_selector_refuses_a_window_outside_the_epoch():
    with pytest.raises(ValueError, match=r"window \(0.7, 0.8\) s holds no sample"):
        make_time_selector(n_channels=16, n_times=N_TIMES, tmin=TMIN, sfreq=SFREQ,
                           window=(0.7, 0.8))  # fmt: skip


@pytest.fixture(scope="module")
def sessions():
    features, labels, info = two_session_features()
    half = len(labels) // 2
    by_subject = {"01": (features[:half], labels[:half]), "02": (features[half:], labels[half:])}
    return by_subject, info


@pytest.mark.parametrize("model_name", ["lda", "xdawn-riemann"])
def test_a_fitted_model_with_selection_takes_full_epochs_and_survives_pickling(
    sessions, model_name
):
    by_subject, info = sessions
    selector = make_time_selector(n_channels=len(info.ch_names), n_times=info.n_times,
                                  tmin=info.tmin, sfreq=info.sfreq, window=(0.0, 0.6),
                                  decimation=2)  # fmt: skip
    result = fit_and_evaluate(by_subject, model_name=model_name, train_subjects=["01"],
                              time_selection=selector, n_channels=len(info.ch_names))  # fmt: skip
    restored = pickle.loads(pickle.dumps(result.model))
    X = by_subject["02"][0]
    assert X.shape[1] == info.n_features
    assert result.model.steps[0][0] == "time_selection"
    np.testing.assert_allclose(restored.decision_function(X), result.model.decision_function(X))


def test_the_lda_pipeline_with_selection_loads_in_mlflows_format_without_extra_trust(
    sessions, tmp_path
):
    # mlflow.sklearn saves with skops and reloads with only skops' default trusted types.
    by_subject, info = sessions
    selector = make_time_selector(n_channels=len(info.ch_names), n_times=info.n_times,
                                  tmin=info.tmin, sfreq=info.sfreq, window=(0.0, 0.6))  # fmt: skip
    model = fit_and_evaluate(by_subject, model_name="lda", train_subjects=["01"],
                             time_selection=selector).model  # fmt: skip
    skops.io.dump(model, tmp_path / "model.skops")
    loaded = skops.io.load(tmp_path / "model.skops", trusted=None)
    X = by_subject["02"][0]
    np.testing.assert_allclose(loaded.decision_function(X), model.decision_function(X))


def test_without_selection_the_pipeline_is_unchanged():
    assert [name for name, _ in make_model("lda").steps] == ["scaler", "lda"]
