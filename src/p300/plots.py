"""Figures for experiment reports, rendered off-screen to PNG bytes.

Figures are built on :class:`matplotlib.figure.Figure` directly (no pyplot global state), so the
functions are safe in Lambdas and threads; adapters upload the returned bytes as artifacts.
"""

import io
import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve

TARGET_COLOUR, NONTARGET_COLOUR = "tab:red", "tab:blue"


def plot_erp(
    epochs, labels, *, times, ch_names: Sequence[str], n_cols: int = 4, dpi: int = 100
) -> bytes:
    """`erp_figure` as PNG bytes at ``dpi``."""
    return _png(erp_figure(epochs, labels, times=times, ch_names=ch_names, n_cols=n_cols), dpi=dpi)


def erp_figure(epochs, labels, *, times, ch_names: Sequence[str], n_cols: int = 4) -> Figure:
    """Target vs non-target average ERP on a grid of channels, mean ± SEM.

    Parameters
    ----------
    epochs : array-like, shape (n_epochs, n_channels, n_times)
        Epochs in µV.
    labels : array-like, shape (n_epochs,)
        1 target, 0 non-target; both classes must be present.
    times : array-like, shape (n_times,)
        Time of each sample relative to the flash, in s.
    ch_names : sequence of str, length n_channels
    n_cols : int
        Channels per row of the grid.

    Returns
    -------
    Figure
        One panel per channel (titled with its name), then hidden unused panels.
    """
    epochs, labels, times = np.asarray(epochs), np.asarray(labels), np.asarray(times)
    if epochs.ndim != 3 or epochs.shape[1:] != (len(ch_names), len(times)):
        raise ValueError(
            "epochs must be shape (n_epochs, n_channels, n_times) = (n_epochs, "
            f"{len(ch_names)}, {len(times)}) from ch_names and times; got {epochs.shape}"
        )
    if len(labels) != len(epochs) or set(np.unique(labels).tolist()) != {0, 1}:
        raise ValueError(
            f"labels must hold 0 and 1, one per epoch ({len(epochs)}); got {len(labels)} "
            f"labels with values {np.unique(labels).tolist()}"
        )
    n_rows = math.ceil(len(ch_names) / n_cols)
    # Fixed margins instead of a constrained layout: the grid is regular, and the layout solver
    # was 40 % of the figure's time (it is drawn by every training run).
    fig = Figure(figsize=(3.2 * n_cols, 2.4 * n_rows + 0.6))
    fig.subplots_adjust(left=0.06, right=0.99, bottom=0.5 / (2.4 * n_rows + 0.6) + 0.02,
                        top=1 - 0.6 / (2.4 * n_rows + 0.6), wspace=0.08, hspace=0.35)  # fmt: skip
    axes = fig.subplots(n_rows, n_cols, sharex=True, sharey=True, squeeze=False).ravel()
    for ax, channel, name in zip(axes, range(len(ch_names)), ch_names, strict=False):
        for label, colour, text in (
            (1, TARGET_COLOUR, "target"),
            (0, NONTARGET_COLOUR, "non-target"),
        ):
            _mean_sem_line(ax, times, epochs[labels == label, channel], colour=colour, label=text)
        ax.axvline(0.0, color="0.5", linewidth=0.8)
        ax.axhline(0.0, color="0.5", linewidth=0.8)
        ax.set_title(name, fontsize=10)
    for ax in axes:
        ax.label_outer()  # shared axes: tick labels on the outer row and column only
    for ax in axes[len(ch_names) :]:
        ax.set_visible(False)
    for ax in axes[::n_cols]:
        ax.set_ylabel("µV")
    for ax in axes[(n_rows - 1) * n_cols :]:
        ax.set_xlabel("time (s)")
    axes[0].legend(fontsize=8, loc="upper left")
    n_target = int(np.sum(labels == 1))
    fig.suptitle(
        f"Average ERP, mean ± SEM ({n_target} target, {len(labels) - n_target} non-target epochs)"
    )
    return fig


def plot_roc(
    scores_by_subject: Mapping[str, tuple], *, title: str = "ROC, held-out subjects", dpi: int = 100
) -> bytes:
    """`roc_figure` as PNG bytes at ``dpi``."""
    return _png(roc_figure(scores_by_subject, title=title), dpi=dpi)


def roc_figure(
    scores_by_subject: Mapping[str, tuple], *, title: str = "ROC, held-out subjects"
) -> Figure:
    """Pooled ROC curve (thick) with one thin curve per subject.

    Parameters
    ----------
    scores_by_subject : mapping str -> (labels, scores)
        labels, shape (n_epochs,), 1 target / 0 non-target; scores, shape (n_epochs,), larger =
        more target-like. Subjects with one class only are left out of the thin curves.
    title : str

    Returns
    -------
    Figure
        One axes: the thin curves, then the pooled curve labelled ``pooled``.
    """
    if not scores_by_subject:
        raise ValueError("scores_by_subject must hold at least one subject; got none")
    pairs = {
        s: (np.asarray(y).ravel(), np.asarray(x).ravel()) for s, (y, x) in scores_by_subject.items()
    }
    pooled_labels = np.concatenate([y for y, _ in pairs.values()])
    if len(np.unique(pooled_labels)) != 2:
        raise ValueError("the pooled labels must contain both classes to draw a ROC curve")
    fig = Figure(figsize=(5.5, 5.0), layout="constrained")
    ax = fig.subplots()
    for labels, scores in pairs.values():
        if len(np.unique(labels)) == 2:
            fpr, tpr, _ = roc_curve(labels, scores)
            ax.plot(fpr, tpr, color="tab:blue", linewidth=0.7, alpha=0.45)
    fpr, tpr, _ = roc_curve(pooled_labels, np.concatenate([x for _, x in pairs.values()]))
    ax.plot(fpr, tpr, color="black", linewidth=2.2, label="pooled")
    ax.plot([], [], color="tab:blue", linewidth=0.7, label="per subject")
    ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="chance")
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="false positive rate", ylabel="true positive rate")
    ax.set_title(title)
    ax.legend(loc="lower right")
    return fig


def plot_subject_auc(
    auc_by_subject: Mapping[str, float | None],
    *,
    title: str = "ROC-AUC per subject",
    dpi: int = 100,
) -> bytes:
    """`subject_auc_figure` as PNG bytes at ``dpi``."""
    return _png(subject_auc_figure(auc_by_subject, title=title), dpi=dpi)


def subject_auc_figure(
    auc_by_subject: Mapping[str, float | None], *, title: str = "ROC-AUC per subject"
) -> Figure:
    """Bar per subject of its ROC-AUC, with the 0.5 chance line; None bars marked n/a.

    Parameters
    ----------
    auc_by_subject : mapping str -> float or None
        None where the AUC is undefined (a subject with one class).
    title : str

    Returns
    -------
    Figure
        One axes: a bar per subject in the mapping's order.
    """
    if not auc_by_subject:
        raise ValueError("auc_by_subject must hold at least one subject; got none")
    subjects = list(auc_by_subject)
    values = [auc_by_subject[s] for s in subjects]
    heights = [0.0 if v is None else float(v) for v in values]
    fig = Figure(figsize=(max(4.0, 0.6 * len(subjects) + 1.5), 4.0), layout="constrained")
    ax = fig.subplots()
    bars = ax.bar(range(len(subjects)), heights, color="tab:blue")
    ax.bar_label(bars, labels=["" if v is None else f"{v:.2f}" for v in values], fontsize=8)
    for position, value in enumerate(values):
        if value is None:  # a zero-height bar's label would sit on the axis, unreadable
            ax.text(position, 0.03, "n/a", ha="center", fontsize=8)
    ax.axhline(0.5, color="tab:red", linestyle="--", linewidth=1)
    ax.text(
        len(subjects) - 0.5,
        0.51,
        "chance",
        color="tab:red",
        ha="right",
        va="bottom",
        bbox={"facecolor": "white", "edgecolor": "none", "pad": 1},
    )
    ax.set_xticks(range(len(subjects)), subjects, rotation=45, ha="right")
    ax.set(ylim=(0, 1.08), xlim=(-0.6, len(subjects) - 0.4), ylabel="ROC-AUC")
    ax.set_title(title)
    return fig


def _mean_sem_line(ax, times: np.ndarray, epochs: np.ndarray, *, colour: str, label: str) -> None:
    """Mean over epochs (n_epochs, n_times) as a line, ± standard error as a band."""
    mean = epochs.mean(axis=0)
    sem = epochs.std(axis=0, ddof=1) / np.sqrt(len(epochs)) if len(epochs) > 1 else 0 * mean
    ax.fill_between(times, mean - sem, mean + sem, color=colour, alpha=0.25, linewidth=0)
    ax.plot(times, mean, color=colour, linewidth=1.3, label=label)


def _png(fig: Figure, *, dpi: int) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()
