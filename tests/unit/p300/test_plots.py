"""Tests for the report figures: valid PNGs of sensible size, clear errors."""

import io

import numpy as np
import pytest
from matplotlib.image import imread

from p300.plots import plot_erp, plot_roc, plot_subject_auc

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CH_NAMES = [f"eeg_ch{i}" for i in range(1, 17)]
TIMES = np.linspace(-0.1, 0.6, 71)


def toy_epochs(n_epochs=120, *, seed=0):
    """Epochs (n_epochs, 16, 71) in µV; targets (every 6th) carry a bump at 0.35 s."""
    rng = np.random.default_rng(seed)
    labels = (np.arange(n_epochs) % 6 == 0).astype(int)
    epochs = rng.normal(0.0, 3.0, (n_epochs, len(CH_NAMES), len(TIMES)))
    epochs[labels == 1] += 4.0 * np.exp(-((TIMES - 0.35) ** 2) / (2 * 0.06**2))
    return epochs, labels


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) in pixels of a PNG, decoding it fully."""
    assert png.startswith(PNG_SIGNATURE)
    height, width = imread(io.BytesIO(png), format="png").shape[:2]
    return width, height


def test_erp_grid_is_a_large_png():
    epochs, labels = toy_epochs()
    width, height = png_size(plot_erp(epochs, labels, times=TIMES, ch_names=CH_NAMES))
    assert 1000 <= width <= 2000 and 800 <= height <= 1600


def test_erp_grid_hides_unused_panels():
    epochs, labels = toy_epochs()
    png = plot_erp(epochs[:, :3], labels, times=TIMES, ch_names=CH_NAMES[:3], n_cols=2)
    width, height = png_size(png)
    assert width < height * 1.5


def test_roc_png_with_a_one_class_subject():
    rng = np.random.default_rng(1)
    labels = np.tile([1, 0, 0, 0, 0], 20)
    scores = {f"s{i}": (labels, labels + rng.normal(0, 1, 100)) for i in range(4)}
    scores["only_nontargets"] = (np.zeros(10, int), rng.normal(0, 1, 10))
    width, height = png_size(plot_roc(scores))
    assert 400 <= width <= 800 and 400 <= height <= 800


def test_subject_auc_png_with_undefined_auc():
    width, height = png_size(plot_subject_auc({"s1": 0.81, "s2": 0.66, "s3": None, "s4": 0.92}))
    assert 300 <= width <= 800 and 300 <= height <= 600


def test_png_resolution_follows_dpi():
    small = png_size(plot_subject_auc({"s1": 0.7}, dpi=50))
    large = png_size(plot_subject_auc({"s1": 0.7}, dpi=100))
    assert large == (2 * small[0], 2 * small[1])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: plot_erp(np.zeros((4, 2, 71)), [0, 1, 0, 1], times=TIMES, ch_names=CH_NAMES),
            r"epochs must be shape .* \(n_epochs, 16, 71\) .* got \(4, 2, 71\)",
        ),
        (
            lambda: plot_erp(np.zeros((4, 16, 71)), [0, 0, 0, 0], times=TIMES, ch_names=CH_NAMES),
            r"labels must hold 0 and 1, one per epoch \(4\); got 4 labels with values \[0\]",
        ),
        (lambda: plot_roc({}), "must hold at least one subject"),
        (lambda: plot_roc({"s1": ([0, 0], [0.1, 0.2])}), "must contain both classes"),
        (lambda: plot_subject_auc({}), "must hold at least one subject"),
    ],
)
def test_bad_input_is_rejected(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_erp_of_a_preprocessed_synthetic_session():
    from p300.preprocessing import preprocess
    from p300.synthetic import subject_session

    features = preprocess(subject_session(seed=5, subject_number=1, duration_s=30.0))
    png = plot_erp(
        features.epochs, features.labels, times=features.times, ch_names=features.ch_names
    )
    width, height = png_size(png)
    assert width > 1000 and height > 800
