"""Decode the attended item from per-flash classifier scores.

Each flash shows a set of candidate items: one item in a single-item oddball (System B flashes
each day, month or year on its own), or a row or column of the 6×6 P300 speller matrix. The
classifier scores every flash (a decision function or log-odds: larger means more target-like).
An item's evidence is the sum of the scores of the flashes that showed it; the attended item is
the one with the most evidence. More repetitions of the flash sequence accumulate more evidence.

Items are any hashable ids (ints in practice); a flash's items are given as one item or as a
collection (set, frozenset, list, tuple) of items.

`decode_window` runs the whole chain on a raw window: preprocessing (with a mirror-padded filter,
so flashes near the window's edges are scored like inner ones), the model's scores, and a ranking
per trial.
"""

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from p300.preprocessing import PreprocessingParams
    from p300.types import EpochFeatures, RawRecording

FlashItems = Hashable | Iterable[Hashable]


@dataclass(frozen=True)
class ItemRanking:
    """Candidate items ordered by evidence, best first.

    Attributes
    ----------
    items : tuple, length n_candidates
    evidence : ndarray, shape (n_candidates,)
        Summed (or mean) flash scores of each item, in decreasing order.
    n_flashes : ndarray, shape (n_candidates,)
        How many flashes showed each item.
    """

    items: tuple
    evidence: np.ndarray
    n_flashes: np.ndarray

    @property
    def best(self) -> Hashable:
        """The decoded item."""
        return self.items[0]


@dataclass(frozen=True)
class RepetitionAccuracy:
    """Item accuracy as a function of the number of repetitions used.

    Attributes
    ----------
    n_repetitions : ndarray, shape (n_steps,)
        1, 2, …, R.
    accuracy : ndarray, shape (n_steps,)
        Share of trials whose decoded item is the true one using repetitions 1..r.
    n_trials : int
    """

    n_repetitions: np.ndarray
    accuracy: np.ndarray
    n_trials: int

    def to_dict(self) -> dict:
        return {
            "n_repetitions": self.n_repetitions.tolist(),
            "accuracy": self.accuracy.tolist(),
            "n_trials": self.n_trials,
        }


def speller_groups(*, n_rows: int = 6, n_cols: int = 6) -> tuple[frozenset[int], ...]:
    """Items shown by each row/column flash of a matrix speller.

    Items are numbered row-major, 0 … n_rows * n_cols - 1. Group g < n_rows is row g; group
    n_rows + c is column c (12 groups for the 6×6 matrix). This is how the importers number
    ``stim_item`` (BCI2000 ``StimulusCode - 1``, OpenViBE ``code - 33025``), so
    ``speller_groups(...)[stim_item]`` is the cells a flash showed.
    """
    for name, value in (("n_rows", n_rows), ("n_cols", n_cols)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}")
    grid = np.arange(n_rows * n_cols).reshape(n_rows, n_cols)
    rows = [frozenset(row.tolist()) for row in grid]
    cols = [frozenset(col.tolist()) for col in grid.T]
    return tuple(rows + cols)


def rank_items(
    scores,
    flashed_items: Sequence[FlashItems],
    *,
    candidates: Iterable[Hashable] | None = None,
    aggregate: Literal["sum", "mean"] = "sum",
) -> ItemRanking:
    """Rank candidate items by the evidence accumulated over flashes.

    Parameters
    ----------
    scores : array-like, shape (n_flashes,)
        Classifier score of each flash, larger = more target-like.
    flashed_items : sequence, length n_flashes
        The item (or collection of items) each flash showed.
    candidates : iterable, optional
        Items to rank; defaults to every item flashed, sorted. Flashes showing none of them
        are ignored, which decodes one field (e.g. the birth month) from a mixed sequence.
    aggregate : {"sum", "mean"}
        Sum of scores per item, or their mean ("mean" is fairer when items were flashed
        unequally often).

    Returns
    -------
    ItemRanking
        Ties keep the candidates' order.
    """
    scores = _check_scores(scores, flashed_items)
    flash_sets = [_as_item_set(items) for items in flashed_items]
    candidates = _candidates(flash_sets, candidates)
    shown = _incidence(flash_sets, candidates)
    n_flashes = shown.sum(axis=0).astype(int)
    evidence = _aggregate(scores @ shown, n_flashes, aggregate)
    order = np.argsort(-evidence, kind="stable")
    return ItemRanking(
        items=tuple(candidates[i] for i in order),
        evidence=evidence[order],
        n_flashes=n_flashes[order],
    )


def count_repetitions(flashed_items: Sequence[FlashItems], *, trials=None) -> np.ndarray:
    """Number each flash by how many times its item set has been shown so far in its trial.

    Parameters
    ----------
    flashed_items : sequence, length n_flashes
        In presentation order.
    trials : array-like, shape (n_flashes,), optional
        Trial id of each flash (counts restart for each trial); one trial if omitted.

    Returns
    -------
    ndarray of int, shape (n_flashes,)
        1 for the first showing of each item set in a trial, 2 for the second, ….
    """
    trials = np.zeros(len(flashed_items), dtype=int) if trials is None else np.asarray(trials)
    if len(trials) != len(flashed_items):
        raise ValueError(
            f"trials must have one entry per flash ({len(flashed_items)}); got {len(trials)}"
        )
    seen: dict[tuple, int] = {}
    counts = np.empty(len(flashed_items), dtype=int)
    for i, (trial, items) in enumerate(zip(trials.tolist(), flashed_items, strict=True)):
        key = (trial, _as_item_set(items))
        seen[key] = seen.get(key, 0) + 1
        counts[i] = seen[key]
    return counts


def item_accuracy_by_repetition(
    scores,
    flashed_items: Sequence[FlashItems],
    *,
    trials,
    repetitions,
    true_items: Mapping[Hashable, Hashable],
    candidates: Iterable[Hashable] | None = None,
    aggregate: Literal["sum", "mean"] = "sum",
) -> RepetitionAccuracy:
    """Item accuracy when decoding each trial from its first 1, 2, …, R repetitions.

    Parameters
    ----------
    scores : array-like, shape (n_flashes,)
        Classifier score of each flash.
    flashed_items : sequence, length n_flashes
        The item (or collection of items) each flash showed.
    trials : array-like, shape (n_flashes,)
        Trial id of each flash; one trial decodes one item (a letter, or one birthdate field).
    repetitions : array-like of int, shape (n_flashes,)
        Repetition number of each flash, starting at 1 (see :func:`count_repetitions`).
    true_items : mapping trial id -> item
        The attended item of every trial.
    candidates, aggregate
        As in :func:`rank_items`.

    Returns
    -------
    RepetitionAccuracy
    """
    scores = _check_scores(scores, flashed_items)
    trials, repetitions = np.asarray(trials), np.asarray(repetitions)
    for name, values in (("trials", trials), ("repetitions", repetitions)):
        if len(values) != len(scores):
            raise ValueError(
                f"{name} must have one entry per flash ({len(scores)}); got {len(values)}"
            )
    if len(scores) == 0 or repetitions.min() < 1:
        raise ValueError(
            f"repetitions must be ≥ 1 and there must be flashes; got {repetitions[:5].tolist()}"
        )
    missing = sorted(set(trials.tolist()) - set(true_items), key=str)
    if missing:
        raise ValueError(f"true_items has no entry for trials {missing}")
    steps = np.arange(1, int(repetitions.max()) + 1)
    trial_ids = list(dict.fromkeys(trials.tolist()))
    correct = np.zeros((len(steps), len(trial_ids)), dtype=bool)
    for j, trial in enumerate(trial_ids):
        in_trial = np.flatnonzero(trials == trial)
        flash_sets = [_as_item_set(flashed_items[k]) for k in in_trial]
        trial_candidates = _candidates(flash_sets, candidates)
        shown = _incidence(flash_sets, trial_candidates)
        # Row i uses the flashes of repetitions 1..steps[i]: all steps in one product.
        used = (repetitions[in_trial][None, :] <= steps[:, None]).astype(float)
        evidence = _aggregate((used * scores[in_trial]) @ shown, used @ shown, aggregate)
        best = [trial_candidates[k] for k in np.argmax(evidence, axis=1)]
        correct[:, j] = [item == true_items[trial] for item in best]
    return RepetitionAccuracy(
        n_repetitions=steps, accuracy=correct.mean(axis=1), n_trials=len(trial_ids)
    )


def _as_item_set(items: FlashItems) -> frozenset:
    if isinstance(items, str | bytes) or not isinstance(items, Iterable):
        return frozenset([items])
    return frozenset(items)


def _candidates(flash_sets: list[frozenset], candidates) -> list:
    if candidates is not None:
        candidates = list(dict.fromkeys(candidates))
        if not candidates:
            raise ValueError("candidates must name at least one item; got none")
        return candidates
    flashed = frozenset().union(*flash_sets)
    if not flashed:
        raise ValueError("flashed_items must show at least one item; got none")
    return sorted(flashed, key=lambda item: (str(type(item)), item))


def _aggregate(summed: np.ndarray, counts: np.ndarray, aggregate: str) -> np.ndarray:
    """Summed evidence, or its mean per flash (-inf for items never shown)."""
    if aggregate not in ("sum", "mean"):
        raise ValueError(f"aggregate must be 'sum' or 'mean'; got {aggregate!r}")
    if aggregate == "sum":
        return summed
    mean = np.full(summed.shape, -np.inf)
    return np.divide(summed, counts, out=mean, where=counts > 0)


def _incidence(flash_sets: list[frozenset], candidates: list) -> np.ndarray:
    """0/1 matrix, shape (n_flashes, n_candidates): 1 where flash i showed candidate j."""
    column = {item: j for j, item in enumerate(candidates)}
    shown = np.zeros((len(flash_sets), len(candidates)))
    for i, items in enumerate(flash_sets):
        shown[i, [column[item] for item in items if item in column]] = 1.0
    return shown


def _check_scores(scores, flashed_items) -> np.ndarray:
    scores = np.asarray(scores, dtype=float)
    if scores.ndim != 1 or len(scores) != len(flashed_items):
        raise ValueError(
            f"scores must be shape (n_flashes,) with one entry per flashed_items "
            f"({len(flashed_items)}); got shape {scores.shape}"
        )
    if not np.all(np.isfinite(scores)):
        raise ValueError("scores must be finite; got NaN or infinite values")
    return scores


def split_trials(onsets, *, gap_factor: float = 3.0) -> np.ndarray:
    """Number flashes by trial (character), starting a new trial after each long pause.

    Spellers pause between characters (to show the result, or to cue the next target): a gap
    longer than ``gap_factor`` times the median interval between flashes starts a new trial. Use
    the recording's own character marks when an importer gives them
    (`p300.importers.ImportedRecording.flash_characters`); this is the fallback.

    Parameters
    ----------
    onsets : array-like of int, shape (n_flashes,)
        Flash onset samples, increasing.
    gap_factor : float > 1

    Returns
    -------
    ndarray of int, shape (n_flashes,)
        0 for the flashes of the first trial, 1 for the next, ….
    """
    onsets = np.asarray(onsets)
    if not gap_factor > 1:
        raise ValueError(f"gap_factor must be a number > 1, got {gap_factor!r}")
    if onsets.ndim != 1 or np.any(np.diff(onsets) <= 0):
        raise ValueError("onsets must be a 1-D array of increasing samples")
    if len(onsets) < 2:
        return np.zeros(len(onsets), dtype=int)
    intervals = np.diff(onsets)
    pauses = intervals > gap_factor * np.median(intervals)
    return np.concatenate([[0], np.cumsum(pauses)]).astype(int)


def flashed_item_sets(stim_items, groups: Sequence | Mapping | None = None) -> list[frozenset]:
    """The items each flash showed: ``groups[stim_item]``, or the ``stim_item`` itself.

    Parameters
    ----------
    stim_items : array-like of int, shape (n_flashes,)
        The item or group code of each flash (``stim_item``), ≥ 0.
    groups : sequence or mapping, optional
        Group code → the items it shows (e.g. `speller_groups`); None: each code is one item.
    """
    codes = np.asarray(stim_items).tolist()
    if groups is None:
        return [frozenset([code]) for code in codes]
    unknown = sorted({code for code in codes if _group_of(groups, code) is None})
    if unknown:
        raise ValueError(f"groups has no entry for stim_item {unknown}")
    return [frozenset(_group_of(groups, code)) for code in codes]


def true_items(flashed_items: Sequence[FlashItems], labels, trials) -> dict:
    """The attended item of each trial: the one item every target flash of the trial showed.

    Parameters
    ----------
    flashed_items : sequence, length n_flashes
    labels : array-like of 0/1, shape (n_flashes,)
    trials : array-like, shape (n_flashes,)

    Returns
    -------
    dict trial id -> item
        Trials without a target flash, or whose targets share no single item, are left out.
    """
    labels, trials = np.asarray(labels), np.asarray(trials)
    attended = {}
    for trial in dict.fromkeys(trials.tolist()):
        shown = [
            _as_item_set(flashed_items[i])
            for i in np.flatnonzero((trials == trial) & (labels == 1))
        ]
        common = frozenset.intersection(*shown) if shown else frozenset()
        if len(common) == 1:
            attended[trial] = next(iter(common))
    return attended


@dataclass(frozen=True)
class WindowDecoding:
    """What `decode_window` made of one raw window.

    Attributes
    ----------
    rankings : dict trial id -> ItemRanking
        One ranking per trial with scored flashes, in trial order.
    scores : ndarray, shape (n_scored,)
        The model's score of each flash used (kept, with an item), in time order.
    items : ndarray, shape (n_scored,)
        ``stim_item`` of each scored flash.
    trials : ndarray, shape (n_scored,)
        Trial of each scored flash.
    epochs : EpochFeatures
        The preprocessed window; its metadata says why the other flashes were not scored.
    """

    rankings: dict
    scores: np.ndarray
    items: np.ndarray
    trials: np.ndarray
    epochs: "EpochFeatures"

    @property
    def rejected(self) -> "pd.DataFrame":
        """The flashes not scored: ``onset_sample`` and ``reject_reason`` (rejected epochs)."""
        metadata = self.epochs.metadata
        return metadata.loc[~metadata["kept"], ["onset_sample", "reject_reason"]]


def decode_window(
    model,
    recording: "RawRecording",
    params: "PreprocessingParams",
    *,
    groups: Sequence | Mapping | None = None,
    trials=None,
    aggregate: Literal["sum", "mean"] = "sum",
) -> WindowDecoding:
    """Decode the attended item of each trial in a raw window.

    The band-pass filter pads the window's ends with a mirror image of the signal
    (``pad='symmetric'``), not MNE's odd reflection: a flash whose epoch starts or ends near the
    window's edge is then scored much as it is in a long recording (docs/real-data.md measures
    both). Every flash whose epoch window (``params.tmin``…``params.tmax``) lies inside the
    raw window is scored; to make edge flashes exactly equal to inner ones, send 1.65 s of
    context (half the filter) before the first flash and after the last epoch.

    Parameters
    ----------
    model : fitted classifier with ``decision_function``
        Trained on features made with ``params``.
    recording : RawRecording
        The window: EEG in µV, shape (n_channels, n_times), in the model's channel order;
        ``stim`` marks each flash and ``stim_item`` its item or group code.
    params : PreprocessingParams
        The model's preprocessing (its features schema's ``params``).
    groups : sequence or mapping, optional
        Group code → items shown (`speller_groups` for a matrix speller); None: ``stim_item``
        is the item itself.
    trials : array-like, shape (n_flashes,), optional
        Trial of each flash of the window in onset order; default `split_trials`.
    aggregate : {"sum", "mean"}
        As in `rank_items`.

    Returns
    -------
    WindowDecoding
    """
    from p300.preprocessing import preprocess

    if recording.stim_item is None:
        raise ValueError("recording.stim_item must say which item each flash showed; got None")
    trials = split_trials(recording.onsets) if trials is None else np.asarray(trials)
    if len(trials) != len(recording.onsets):
        raise ValueError(
            f"trials must have one entry per flash ({len(recording.onsets)}); got {len(trials)}"
        )
    epochs = preprocess(recording, params, pad="symmetric")
    kept = epochs.metadata["kept"].to_numpy()
    items = epochs.metadata["stim_item"].to_numpy()[kept]
    with_item = items >= 0
    if not with_item.any():
        raise ValueError(
            "no flash left to decode: every epoch of the window was rejected or has no item"
        )
    scores = np.asarray(model.decision_function(epochs.features[with_item]), dtype=float)
    flashed = flashed_item_sets(items[with_item], groups)
    scored_trials = trials[kept][with_item]
    rankings = {
        trial: rank_items(
            scores[scored_trials == trial],
            [flashed[i] for i in np.flatnonzero(scored_trials == trial)],
            aggregate=aggregate,
        )
        for trial in dict.fromkeys(scored_trials.tolist())
    }
    return WindowDecoding(rankings, scores, items[with_item], scored_trials, epochs)


def _group_of(groups: Sequence | Mapping, code: int):
    if isinstance(groups, Mapping):
        return groups.get(code)
    return groups[code] if 0 <= code < len(groups) else None
