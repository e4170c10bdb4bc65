"""System B's birthdate retrieval: a synthetic session, and rankings back to a date.

A System B session has three blocks, one per field of the date: the days 1–31, then the months
1–12, then the years of a range. In each block every candidate is flashed on its own, in a new
random order at each repetition; the subject attends to their own day, month and year, whose
flashes evoke a P300 (``stim`` 2), the rest do not (``stim`` 1). ``stim_item`` holds the flashed
value itself (14, 7, 1990), so a block is decoded by ranking its candidates by the classifier's
evidence (`p300.decoding.rank_items`, or the API's ``/decode``).

The three rankings are decoded jointly: the best day, month and year need not form a date
(31 February), so the answer is the valid date with the most evidence summed over the fields.
"""

import calendar
import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from p300.checks import check_choice, check_range
from p300.synthetic import make_oddball_session
from p300.types import STIM_NONE, STIM_NONTARGET, RawRecording

FIELDS = ("day", "month", "year")
DEFAULT_YEARS = (1940, 2010)
DEFAULT_REPETITIONS = 10
#: Seconds of recording before a block's first flash and after its last one.
BLOCK_MARGIN_S = 2.0
#: One item in 12 to 71 is a target (1 in 6 in the speller): a rarer target evokes a larger P300.
P300_GAIN = 1.5
_FIELD_RANGES = {"day": (1, 31), "month": (1, 12), "year": (1, 9999)}


@dataclass(frozen=True)
class BirthdateBlock:
    """One field's block of a session.

    Attributes
    ----------
    field : {'day', 'month', 'year'}
    candidates : tuple of int
        The values flashed, in increasing order.
    target : int
        The subject's value (the attended item).
    start, stop : int
        Sample range of the block in the session's recording (``BLOCK_MARGIN_S`` around its
        flashes).
    """

    field: str
    candidates: tuple[int, ...]
    target: int
    start: int
    stop: int


@dataclass(frozen=True)
class BirthdateSession:
    """A synthetic System B session: the recording and where each field's block lies in it."""

    birthdate: datetime.date
    recording: RawRecording
    blocks: tuple[BirthdateBlock, ...]
    repetitions: int

    def block(self, field: str) -> BirthdateBlock:
        """The block of ``field`` ('day', 'month' or 'year')."""
        check_choice("field", field, FIELDS)
        return next(block for block in self.blocks if block.field == field)


@dataclass(frozen=True)
class FieldDecoding:
    """How one field was decoded.

    Attributes
    ----------
    field : {'day', 'month', 'year'}
    items : tuple of int
        Candidates, best first.
    evidence : tuple of float
        Their evidence, in the same order (decreasing).
    margin : float
        Evidence of the best candidate minus the runner-up's (inf with one candidate).
    chosen : int
        The value in the decoded date; not ``items[0]`` when that made no valid date.
    chosen_rank : int
        Its 1-based place in ``items``.
    """

    field: str
    items: tuple[int, ...]
    evidence: tuple[float, ...]
    margin: float
    chosen: int
    chosen_rank: int


@dataclass(frozen=True)
class BirthdateDecoding:
    """The decoded date, each field's ranking, and whether validity changed the answer."""

    date: datetime.date
    fields: tuple[FieldDecoding, ...]

    @property
    def adjusted(self) -> bool:
        """True when the fields' best candidates did not form a valid date."""
        return any(field.chosen_rank != 1 for field in self.fields)

    def field(self, name: str) -> FieldDecoding:
        """The decoding of field ``name``."""
        check_choice("name", name, FIELDS)
        return next(field for field in self.fields if field.field == name)


def make_birthdate_session(
    birthdate: datetime.date,
    *,
    seed: int,
    repetitions: int = DEFAULT_REPETITIONS,
    years: tuple[int, int] = DEFAULT_YEARS,
    soa_s: float = 0.3,
    subject: str = "B01",
) -> BirthdateSession:
    """A synthetic System B session of a subject born on ``birthdate``; deterministic in ``seed``.

    Parameters
    ----------
    birthdate : datetime.date
        The date whose day, month and year are the targets.
    seed : int
        Seeds the flash order and the subject (traits, noise).
    repetitions : int
        1–50; how many times each candidate is flashed in its block.
    years : (int, int)
        First and last year flashed (inclusive); must contain ``birthdate.year``.
    soa_s : float
        Mean stimulus onset asynchrony in s (0.1–1.0); each flash is jittered by ±0.03 s.
    subject : str
        Stored in the recording.

    Returns
    -------
    BirthdateSession
        The recording: 16 Brain Invaders channels at 512 Hz in µV, shape (16, n_times), with
        ``stim`` and ``stim_item`` at flash onsets.
    """
    _check_birthdate(birthdate, years)
    check_range("repetitions", repetitions, low=1, high=50)
    check_range("soa_s", soa_s, low=0.1, high=1.0)
    order_seed, subject_seed = np.random.SeedSequence(seed).generate_state(2)
    rng = np.random.default_rng(order_seed)
    targets = {"day": birthdate.day, "month": birthdate.month, "year": birthdate.year}
    ranges = {"day": (1, 31), "month": (1, 12), "year": years}
    onsets, items, spans, t = [], [], [], BLOCK_MARGIN_S
    for field in FIELDS:
        candidates = np.arange(ranges[field][0], ranges[field][1] + 1)
        order = np.concatenate([rng.permutation(candidates) for _ in range(repetitions)])
        times = t + np.arange(len(order)) * soa_s + rng.uniform(-0.03, 0.03, len(order))
        onsets.append(times)
        items.append(order)
        spans.append((field, tuple(candidates.tolist()), times[0], times[-1]))
        t = times[-1] + 2 * BLOCK_MARGIN_S  # the app's pause before the next field
    onsets_s, flashed = np.concatenate(onsets), np.concatenate(items)
    is_target = np.concatenate(
        [order == targets[f] for f, order in zip(FIELDS, items, strict=True)]
    )
    duration_s = float(onsets_s[-1] + BLOCK_MARGIN_S)
    recording = make_oddball_session(
        seed=int(subject_seed), onsets_s=onsets_s, items=flashed, is_target=is_target,
        duration_s=duration_s, subject=subject, session="birthdate", bad_channel_prob=0.0,
        p300_gain=P300_GAIN,
    )  # fmt: skip
    sfreq, n_times = recording.sfreq, recording.n_times
    blocks = tuple(
        BirthdateBlock(
            field=field, candidates=candidates, target=targets[field],
            start=max(0, round((first - BLOCK_MARGIN_S) * sfreq)),
            stop=min(n_times, round((last + BLOCK_MARGIN_S) * sfreq)),
        )
        for field, candidates, first, last in spans
    )  # fmt: skip
    return BirthdateSession(birthdate, recording, blocks, repetitions)


def block_recording(session: BirthdateSession, field: str) -> RawRecording:
    """The part of the session's recording holding the block of ``field``.

    Returns
    -------
    RawRecording
        ``data`` shape (n_channels, stop - start) in µV; ``stim``/``stim_item`` of that block.
    """
    block = session.block(field)
    return _slice(session.recording, block.start, block.stop, session=f"birthdate-{field}")


def blinded(recording: RawRecording) -> RawRecording:
    """What a live client knows: every flash and its item, none marked as target (all ``stim``
    codes 1), because the attended item is what is being decoded."""
    stim = np.where(recording.stim != STIM_NONE, STIM_NONTARGET, STIM_NONE).astype(np.int8)
    return replace(recording, stim=stim)


def split_windows(
    recording: RawRecording, *, max_duration_s: float, margin_s: float = BLOCK_MARGIN_S
) -> list[RawRecording]:
    """Cut a recording into windows of at most ``max_duration_s`` that share no flash.

    Each window keeps ``margin_s`` of signal before its first flash and after its last one (the
    band-pass filter and the epochs need it); flashes inside a margin but owned by a
    neighbouring window are unmarked (``stim`` 0, ``stim_item`` -1), so every flash is counted
    exactly once over the windows.

    Parameters
    ----------
    recording : RawRecording
        ``data`` shape (n_channels, n_times) in µV.
    max_duration_s : float
        Longest window in s; more than ``2 * margin_s``.
    margin_s : float
        Signal kept around each window's flashes, in s (≥ 1 s: the epochs reach 0.6 s).

    Returns
    -------
    list of RawRecording
        In time order; empty when the recording has no flash.
    """
    check_range("margin_s", margin_s, low=1.0, high=60.0)
    if not max_duration_s > 2 * margin_s:
        raise ValueError(
            f"max_duration_s must be more than 2 * margin_s = {2 * margin_s} s, "
            f"got {max_duration_s!r}"
        )
    sfreq, onsets = recording.sfreq, recording.onsets
    margin, span = round(margin_s * sfreq), int((max_duration_s - 2 * margin_s) * sfreq)
    windows, first = [], 0
    while first < len(onsets):
        last = int(np.searchsorted(onsets, onsets[first] + span, side="right"))
        start = max(0, onsets[first] - margin)
        stop = min(recording.n_times, onsets[last - 1] + margin + 1)
        window = _slice(recording, start, stop, session=recording.session)
        owned = np.zeros(stop - start, dtype=bool)
        owned[onsets[first:last] - start] = True
        windows.append(_unmark(window, ~owned))
        first = last
    return windows


def decode_birthdate(evidence: Mapping[str, Mapping[int, float]]) -> BirthdateDecoding:
    """The valid date with the most evidence, from each field's evidence per candidate.

    Parameters
    ----------
    evidence : mapping
        ``{'day': {1: e, 2: e, …}, 'month': {…}, 'year': {…}}``: each candidate's evidence (a
        summed or mean decision score, larger = more target-like). A date's score is the sum
        of its three fields' evidence.

    Returns
    -------
    BirthdateDecoding
        The best valid date (31 February, 29 February of a common year and the like are
        skipped), with each field's ranking and margin.
    """
    rankings = {field: _ranking(field, evidence) for field in FIELDS}
    best, best_score = None, -np.inf
    days = rankings["day"]
    for year, year_evidence in zip(*rankings["year"], strict=True):
        for month, month_evidence in zip(*rankings["month"], strict=True):
            last_day = calendar.monthrange(year, month)[1]
            # Ranked best first, so the first day that exists in this month is its best day.
            day_index = next((i for i, day in enumerate(days[0]) if day <= last_day), None)
            if day_index is None:
                continue
            score = year_evidence + month_evidence + days[1][day_index]
            if score > best_score:
                best, best_score = (year, month, days[0][day_index]), score
    if best is None:
        raise ValueError(
            f"evidence must allow at least one valid date; got days {sorted(days[0])}, months "
            f"{sorted(rankings['month'][0])} and years {sorted(rankings['year'][0])}"
        )
    date = datetime.date(*best)
    chosen = {"day": date.day, "month": date.month, "year": date.year}
    return BirthdateDecoding(
        date=date,
        fields=tuple(_field_decoding(f, *rankings[f], chosen[f]) for f in FIELDS),
    )


def _ranking(field: str, evidence: Mapping) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """A field's candidates and evidence, best first (ties: smaller value first)."""
    if set(evidence) != set(FIELDS):
        raise ValueError(f"evidence must have exactly the keys {FIELDS}, got {sorted(evidence)}")
    per_item = evidence[field]
    low, high = _FIELD_RANGES[field]
    if not per_item:
        raise ValueError(f"evidence[{field!r}] must rank at least one candidate, got none")
    for item, value in per_item.items():
        if not (isinstance(item, int | np.integer) and low <= item <= high):
            raise ValueError(
                f"evidence[{field!r}] candidates must be integers {low}–{high}, got {item!r}"
            )
        if not np.isfinite(value):
            raise ValueError(f"evidence[{field!r}][{item}] must be finite, got {value!r}")
    ordered = sorted(per_item.items(), key=lambda pair: (-pair[1], pair[0]))
    return tuple(int(i) for i, _ in ordered), tuple(float(e) for _, e in ordered)


def _field_decoding(
    field: str, items: Sequence[int], evidence: Sequence[float], chosen: int
) -> FieldDecoding:
    margin = evidence[0] - evidence[1] if len(evidence) > 1 else float("inf")
    return FieldDecoding(field, tuple(items), tuple(evidence), margin, chosen,
                         items.index(chosen) + 1)  # fmt: skip


def _slice(recording: RawRecording, start: int, stop: int, *, session) -> RawRecording:
    stim_item = None if recording.stim_item is None else recording.stim_item[start:stop]
    data, stim = recording.data[:, start:stop], recording.stim[start:stop]
    return replace(recording, data=data, stim=stim, stim_item=stim_item, session=session)


def _unmark(recording: RawRecording, samples: np.ndarray) -> RawRecording:
    """The recording with the flashes at ``samples`` (bool, shape (n_times,)) removed."""
    stim = np.where(samples, STIM_NONE, recording.stim).astype(np.int8)
    stim_item = recording.stim_item
    if stim_item is not None:
        stim_item = np.where(samples, -1, stim_item).astype(np.int32)
    return replace(recording, stim=stim, stim_item=stim_item)


def _check_birthdate(birthdate, years: tuple[int, int]) -> None:
    if not isinstance(birthdate, datetime.date):
        raise ValueError(f"birthdate must be a datetime.date, got {birthdate!r}")
    first, last = years
    if not (isinstance(first, int) and isinstance(last, int) and 1 <= first <= last <= 9999):
        raise ValueError(f"years must be (first, last) with 1 ≤ first ≤ last ≤ 9999, got {years}")
    if last - first >= 200:
        raise ValueError(f"years must span at most 200 years, got {years}")
    if not first <= birthdate.year <= last:
        raise ValueError(f"years {years} must contain the birth year, got {birthdate.year}")
