"""The report figures: what they draw (panels, labels, curves, bars) and the PNGs they become."""

import io

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.image import imread
from sklearn.metrics import roc_auc_score

from p300.plots import (
    NONTARGET_COLOUR,
    TARGET_COLOUR,
    erp_figure,
    plot_erp,
    plot_roc,
    plot_subject_auc,
    roc_figure,
    subject_auc_figure,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CH_NAMES = [f"eeg_ch{i}" for i in range(1, 17)]
TIMES = np.linspace(-0.1, 0.6, 71)
P300_WINDOW_S = (0.25, 0.55)


def toy_epochs(n_epochs=120, *, seed=0):
    """Epochs (n_epochs, 16, 71) in µV; targets (every 6th) carry a bump at 0.35 s."""
    rng = np.random.default_rng(seed)
    labels = (np.arange(n_epochs) % 6 == 0).astype(int)
    epochs = rng.normal(0.0, 3.0, (n_epochs, len(CH_NAMES), len(TIMES)))
    epochs[labels == 1] += 4.0 * np.exp(-((TIMES - 0.35) ** 2) / (2 * 0.06**2))
    return epochs, labels


def decoded(png: bytes) -> np.ndarray:
    """The PNG's pixels, shape (height, width, channels), values in [0, 1]."""
    assert png.startswith(PNG_SIGNATURE)
    return imread(io.BytesIO(png), format="png")


def pixels_of(image: np.ndarray, colour: str) -> int:
    """How many pixels are (within rounding) ``colour``."""
    return int(np.all(np.abs(image[..., :3] - to_rgb(colour)) < 0.02, axis=-1).sum())


def line_by_colour(ax, colour: str):
    (line,) = [line for line in ax.get_lines() if to_rgb(line.get_color()) == to_rgb(colour)]
    return line


def test_erp_has_one_titled_panel_per_channel_with_time_and_µv_labels():
    epochs, labels = toy_epochs()
    fig = erp_figure(epochs, labels, times=TIMES, ch_names=CH_NAMES)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == CH_NAMES
    assert {ax.get_xlabel() for ax in panels[-4:]} == {"time (s)"}
    assert {ax.get_ylabel() for ax in panels[::4]} == {"µV"}
    assert "20 target, 100 non-target epochs" in fig.get_suptitle()


@pytest.mark.parametrize("channel", [0, 7, 15])
def test_the_target_curve_peaks_in_the_p300_window_and_the_non_target_one_stays_flat(channel):
    epochs, labels = toy_epochs()
    ax = erp_figure(epochs, labels, times=TIMES, ch_names=CH_NAMES).axes[channel]
    target, nontarget = line_by_colour(ax, TARGET_COLOUR), line_by_colour(ax, NONTARGET_COLOUR)
    peak_s = target.get_xdata()[np.argmax(target.get_ydata())]
    assert P300_WINDOW_S[0] <= peak_s <= P300_WINDOW_S[1]
    np.testing.assert_allclose(target.get_ydata(), epochs[labels == 1, channel].mean(axis=0))
    assert np.abs(nontarget.get_ydata()).max() < 2.0  # µV: 100 epochs of 3 µV noise, no bump
    assert target.get_label() == "target" and nontarget.get_label() == "non-target"


def test_erp_grid_hides_unused_panels():
    epochs, labels = toy_epochs()
    fig = erp_figure(epochs[:, :3], labels, times=TIMES, ch_names=CH_NAMES[:3], n_cols=2)
    assert len(fig.axes) == 4
    assert [ax.get_visible() for ax in fig.axes] == [True, True, True, False]


def test_erp_png_shows_both_curves_on_a_large_canvas():
    epochs, labels = toy_epochs()
    image = decoded(plot_erp(epochs, labels, times=TIMES, ch_names=CH_NAMES))
    height, width = image.shape[:2]
    assert 1000 <= width <= 2000 and 800 <= height <= 1600
    assert pixels_of(image, TARGET_COLOUR) > 16 * 20  # 16 panels of drawn curve
    assert pixels_of(image, NONTARGET_COLOUR) > 16 * 20


def roc_scores(seed: int = 1) -> dict[str, tuple]:
    rng = np.random.default_rng(seed)
    labels = np.tile([1, 0, 0, 0, 0], 20)
    scores = {f"s{i}": (labels, labels + rng.normal(0, 1, 100)) for i in range(4)}
    scores["only_nontargets"] = (np.zeros(10, int), rng.normal(0, 1, 10))
    return scores


def test_roc_draws_the_pooled_curve_each_two_class_subject_and_chance():
    scores = roc_scores()
    (ax,) = roc_figure(scores).axes
    pooled = next(line for line in ax.get_lines() if line.get_label() == "pooled")
    labels = np.concatenate([y for y, _ in scores.values()])
    values = np.concatenate([x for _, x in scores.values()])
    area = np.trapezoid(pooled.get_ydata(), pooled.get_xdata())
    assert area == pytest.approx(roc_auc_score(labels, values))
    thin = [line for line in ax.get_lines() if line.get_label().startswith("_")]
    assert len(thin) == 4  # the one-class subject has no curve
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("false positive rate", "true positive rate")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "pooled",
        "per subject",
        "chance",
    ]


def test_roc_png_is_drawn():
    image = decoded(plot_roc(roc_scores()))
    height, width = image.shape[:2]
    assert 400 <= width <= 800 and 400 <= height <= 800
    assert pixels_of(image, "black") > 200  # the pooled curve


def test_subject_auc_bars_have_the_auc_heights_and_undefined_ones_say_n_a():
    aucs = {"s1": 0.81, "s2": 0.66, "s3": None, "s4": 0.92}
    (ax,) = subject_auc_figure(aucs).axes
    heights = [bar.get_height() for bar in ax.patches]
    assert heights == pytest.approx([0.81, 0.66, 0.0, 0.92])
    assert [t.get_text() for t in ax.get_xticklabels()] == list(aucs)
    texts = {t.get_text() for t in ax.texts}
    assert {"0.81", "0.66", "0.92", "n/a", "chance"} <= texts
    assert ax.get_ylabel() == "ROC-AUC"


def test_subject_auc_png_is_drawn_and_its_resolution_follows_dpi():
    small = decoded(plot_subject_auc({"s1": 0.7}, dpi=50))
    large = decoded(plot_subject_auc({"s1": 0.7}, dpi=100))
    assert large.shape[:2] == (2 * small.shape[0], 2 * small.shape[1])
    assert pixels_of(large, "tab:blue") > 1000  # the bar


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


def test_erp_of_a_preprocessed_synthetic_session_peaks_in_the_p300_window():
    from p300.preprocessing import preprocess
    from p300.synthetic import subject_session

    features = preprocess(subject_session(seed=5, subject_number=1, duration_s=60.0))
    fig = erp_figure(
        features.epochs, features.labels, times=features.times, ch_names=features.ch_names
    )
    difference = [
        line_by_colour(ax, TARGET_COLOUR).get_ydata()
        - line_by_colour(ax, NONTARGET_COLOUR).get_ydata()
        for ax in fig.axes[: len(features.ch_names)]
    ]
    channel = int(np.argmax([d.max() for d in difference]))
    peak_s = features.times[np.argmax(difference[channel])]
    assert P300_WINDOW_S[0] <= peak_s <= P300_WINDOW_S[1]
