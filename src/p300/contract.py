"""The raw-recording contract: problem codes, reports and the checks on decoded arrays.

Every way a raw recording can be unacceptable has a stable code in ``PROBLEM_CODES``. The codes are
strings on purpose: they become the quarantine reasons of the cloud pipeline, so never rename one.

Fatal versus warning
--------------------
A problem is an *error* when preprocessing cannot produce meaningful epochs from the recording
(unreadable, no events of one class, non-finite samples, wrong units, ...). It is a *warning* when
the preprocessing copes by itself: a flat channel among working ones (its epochs carry no
information but do not break the filter or the peak-to-peak rejection) and a partly saturated
channel (the 100 µV peak-to-peak rejection drops the epochs that touch the clipped stretches).
Only when every channel is flat does flatness become the error ``ALL_CHANNELS_FLAT``.
"""

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from p300.limits import DEFAULT_MAX_BYTES as DEFAULT_MAX_BYTES  # re-exported
from p300.types import STIM_NONE, STIM_NONTARGET, STIM_TARGET, RawRecording

#: Sampling frequencies (Hz) a P300 recording can plausibly have.
SFREQ_RANGE_HZ = (64.0, 4096.0)
#: The epoch window (s) around a flash onset that at least one flash must fit in.
EPOCH_WINDOW_S = (-0.1, 0.6)
#: Below this robust amplitude (median absolute deviation) on every channel, the values are volts.
VOLTS_MAX_ROBUST_AMPLITUDE = 1e-2
#: A channel whose standard deviation is below this (µV) is flat.
FLAT_MAX_STD_UV = 0.1
#: A run of identical samples at a channel's extreme lasting this long (s) is clipping...
SATURATION_MIN_RUN_S = 0.02
#: ...and a channel with more than this fraction of its samples clipped is saturated.
SATURATION_MAX_FRACTION = 0.01
#: Values of the ``units`` schema metadata meaning microvolts.
MICROVOLT_UNITS = ("uv", "µv", "μv", "microvolt", "microvolts")


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


class ProblemCode(StrEnum):
    """Stable codes of everything that can be wrong with a raw recording."""

    FILE_TOO_LARGE = "FILE_TOO_LARGE"
    NOT_PARQUET = "NOT_PARQUET"
    EMPTY = "EMPTY"
    DUPLICATE_COLUMNS = "DUPLICATE_COLUMNS"
    MISSING_STIM = "MISSING_STIM"
    NO_EEG_CHANNELS = "NO_EEG_CHANNELS"
    NON_NUMERIC_COLUMN = "NON_NUMERIC_COLUMN"
    MISSING_SFREQ = "MISSING_SFREQ"
    INVALID_SFREQ = "INVALID_SFREQ"
    UNSUPPORTED_UNITS = "UNSUPPORTED_UNITS"
    INVALID_STIM_VALUES = "INVALID_STIM_VALUES"
    UNKNOWN_STIM_CODES = "UNKNOWN_STIM_CODES"
    STIM_NOT_SINGLE_SAMPLE = "STIM_NOT_SINGLE_SAMPLE"
    INVALID_STIM_ITEM = "INVALID_STIM_ITEM"
    NO_TARGETS = "NO_TARGETS"
    NO_NONTARGETS = "NO_NONTARGETS"
    TOO_SHORT = "TOO_SHORT"
    NON_FINITE_VALUES = "NON_FINITE_VALUES"
    VALUES_LOOK_LIKE_VOLTS = "VALUES_LOOK_LIKE_VOLTS"
    FLAT_CHANNEL = "FLAT_CHANNEL"
    ALL_CHANNELS_FLAT = "ALL_CHANNELS_FLAT"
    SATURATED_CHANNEL = "SATURATED_CHANNEL"


@dataclass(frozen=True)
class CodeSpec:
    severity: Severity
    description: str


_E, _W = Severity.ERROR, Severity.WARNING

#: The documented table of problem codes: code → (severity, description).
PROBLEM_CODES: dict[ProblemCode, CodeSpec] = {
    ProblemCode.FILE_TOO_LARGE: CodeSpec(_E, "File larger than the configured limit (not parsed)."),
    ProblemCode.NOT_PARQUET: CodeSpec(_E, "Not a Parquet file, or unreadable."),
    ProblemCode.EMPTY: CodeSpec(_E, "Parquet file without rows."),
    ProblemCode.DUPLICATE_COLUMNS: CodeSpec(_E, "Two or more columns share a name."),
    ProblemCode.MISSING_STIM: CodeSpec(_E, "No `stim` column."),
    ProblemCode.NO_EEG_CHANNELS: CodeSpec(_E, "No EEG channel column besides stim/stim_item."),
    ProblemCode.NON_NUMERIC_COLUMN: CodeSpec(
        _E, "A channel, stim or stim_item column isn't numeric."
    ),
    ProblemCode.MISSING_SFREQ: CodeSpec(
        _E, "No `sfreq` schema metadata and the columns are not System A's eeg_ch1…eeg_chN."
    ),
    ProblemCode.INVALID_SFREQ: CodeSpec(_E, "Sampling rate not a number or outside 64–4096 Hz."),
    ProblemCode.UNSUPPORTED_UNITS: CodeSpec(_E, "`units` schema metadata is not microvolts."),
    ProblemCode.INVALID_STIM_VALUES: CodeSpec(
        _E, "`stim` has missing, non-finite or fractional values."
    ),
    ProblemCode.UNKNOWN_STIM_CODES: CodeSpec(_E, "`stim` has codes other than 0, 1, 2."),
    ProblemCode.STIM_NOT_SINGLE_SAMPLE: CodeSpec(
        _E, "Stim codes held over consecutive samples; the contract marks each onset by one sample."
    ),
    ProblemCode.INVALID_STIM_ITEM: CodeSpec(_E, "`stim_item` is not integers >= -1."),
    ProblemCode.NO_TARGETS: CodeSpec(_E, "No target flash (stim code 2)."),
    ProblemCode.NO_NONTARGETS: CodeSpec(_E, "No non-target flash (stim code 1)."),
    ProblemCode.TOO_SHORT: CodeSpec(
        _E, "No flash has a complete epoch window inside the recording."
    ),
    ProblemCode.NON_FINITE_VALUES: CodeSpec(
        _E, "An EEG channel has missing, NaN or infinite samples."
    ),
    ProblemCode.VALUES_LOOK_LIKE_VOLTS: CodeSpec(
        _E, "Amplitudes tiny on every channel: volts, not µV."
    ),
    ProblemCode.FLAT_CHANNEL: CodeSpec(_W, "A channel has (near-)zero variance."),
    ProblemCode.ALL_CHANNELS_FLAT: CodeSpec(_E, "Every EEG channel has (near-)zero variance."),
    ProblemCode.SATURATED_CHANNEL: CodeSpec(
        _W, "A channel is clipped at its extreme values often."
    ),
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a recording.

    Attributes
    ----------
    code : ProblemCode
    message : str
        Names what is wrong, where (column, channel) and the value received.
    """

    code: ProblemCode
    message: str

    @property
    def severity(self) -> Severity:
        return PROBLEM_CODES[self.code].severity

    def to_dict(self) -> dict[str, str]:
        return {"code": str(self.code), "severity": str(self.severity), "message": self.message}


class InvalidRecordingError(ValueError):
    """A recording breaks the contract; ``problems`` holds every problem found (errors first)."""

    def __init__(self, problems: tuple[Problem, ...]):
        self.problems = problems
        super().__init__("; ".join(f"{p.code}: {p.message}" for p in problems))


@dataclass(frozen=True)
class ValidationReport:
    """The outcome of validating one recording.

    Attributes
    ----------
    recording : RawRecording or None
        The decoded recording; None when there is any error.
    problems : tuple of Problem
        Errors and warnings, in the order found.
    """

    recording: RawRecording | None
    problems: tuple[Problem, ...] = ()

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity is Severity.ERROR)

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity is Severity.WARNING)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(str(p.code) for p in self.problems)

    def recording_or_raise(self) -> RawRecording:
        """The recording, or `InvalidRecordingError` carrying the errors then the warnings."""
        if self.errors or self.recording is None:
            raise InvalidRecordingError(self.errors + self.warnings)
        return self.recording


def check_sfreq(sfreq: float) -> list[Problem]:
    """Problems with a sampling frequency in Hz."""
    low, high = SFREQ_RANGE_HZ
    if not np.isfinite(sfreq) or not low <= sfreq <= high:
        return [
            Problem(
                ProblemCode.INVALID_SFREQ,
                f"sampling rate must be within {low:g}–{high:g} Hz, got {sfreq!r}",
            )
        ]
    return []


def check_stim_values(stim: np.ndarray) -> list[Problem]:
    """Problems with the values of a ``stim`` column that stop it from being decoded.

    Parameters
    ----------
    stim : ndarray, shape (n_times,)
        Any numeric dtype; floats must be whole numbers.
    """
    finite = np.isfinite(stim)
    if not finite.all():
        first = int(np.flatnonzero(~finite)[0])
        return [
            Problem(
                ProblemCode.INVALID_STIM_VALUES,
                f"column 'stim' has {int((~finite).sum())} missing or non-finite samples "
                f"(first at sample {first})",
            )
        ]
    fractional = stim != np.round(stim)
    if fractional.any():
        first = int(np.flatnonzero(fractional)[0])
        return [
            Problem(
                ProblemCode.INVALID_STIM_VALUES,
                f"column 'stim' must hold whole numbers, "
                f"got {stim[first].item()!r} at sample {first}",
            )
        ]
    unknown = np.setdiff1d(np.unique(stim), [STIM_NONE, STIM_NONTARGET, STIM_TARGET])
    if unknown.size:
        shown = ", ".join(f"{v:g}" for v in unknown[:10]) + (", ..." if unknown.size > 10 else "")
        return [
            Problem(
                ProblemCode.UNKNOWN_STIM_CODES,
                f"column 'stim' may only hold 0 (none), 1 (non-target), 2 (target); "
                f"got unknown codes {shown}",
            )
        ]
    return []


def check_stim_item(stim_item: np.ndarray) -> list[Problem]:
    """Problems with a ``stim_item`` column, shape (n_times,), any numeric dtype."""
    finite = np.isfinite(stim_item)
    bad = ~finite
    bad[finite] = (stim_item[finite] != np.round(stim_item[finite])) | (stim_item[finite] < -1)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        return [
            Problem(
                ProblemCode.INVALID_STIM_ITEM,
                f"column 'stim_item' must hold whole numbers >= -1; {int(bad.sum())} samples "
                f"do not (first at sample {first}: {stim_item[first].item()!r})",
            )
        ]
    return []


def check_events(
    stim: np.ndarray, sfreq: float, *, epoch_window: tuple[float, float] = EPOCH_WINDOW_S
) -> list[Problem]:
    """Problems with the flashes of a decoded ``stim`` channel.

    Parameters
    ----------
    stim : ndarray of int, shape (n_times,)
        Codes 0, 1, 2 only (see `check_stim_values`).
    sfreq : float
        Sampling frequency in Hz.
    epoch_window : (float, float)
        Epoch window in s around an onset that at least one flash must fit in.
    """
    problems = []
    held = (stim[1:] != STIM_NONE) & (stim[:-1] != STIM_NONE)
    if held.any():
        problems.append(
            Problem(
                ProblemCode.STIM_NOT_SINGLE_SAMPLE,
                f"column 'stim' marks each flash onset by one sample, but {int(held.sum())} "
                f"samples continue an event (first at sample {int(np.flatnonzero(held)[0]) + 1})",
            )
        )
    n_target = int((stim == STIM_TARGET).sum())
    n_nontarget = int((stim == STIM_NONTARGET).sum())
    if n_target == 0:
        problems.append(
            Problem(ProblemCode.NO_TARGETS, f"no target flash (stim=2); {n_nontarget} non-targets")
        )
    if n_nontarget == 0:
        problems.append(
            Problem(ProblemCode.NO_NONTARGETS, f"no non-target flash (stim=1); {n_target} targets")
        )
    problems += _check_duration(np.flatnonzero(stim), stim.size, sfreq, epoch_window)
    return problems


def _check_duration(
    onsets: np.ndarray, n_times: int, sfreq: float, epoch_window: tuple[float, float]
) -> list[Problem]:
    n_before = int(np.ceil(-epoch_window[0] * sfreq))
    n_after = int(np.ceil(epoch_window[1] * sfreq))
    fits = (onsets >= n_before) & (onsets + n_after < n_times)
    if n_times > n_before + n_after and (fits.any() or onsets.size == 0):
        return []
    return [
        Problem(
            ProblemCode.TOO_SHORT,
            f"recording is {n_times / sfreq:.3g} s ({n_times} samples at {sfreq:g} Hz) and none "
            f"of its {onsets.size} flashes has a complete epoch window "
            f"{epoch_window[0]:g}…{epoch_window[1]:g} s inside it",
        )
    ]


def check_eeg(data: np.ndarray, ch_names: tuple[str, ...], sfreq: float) -> list[Problem]:
    """Problems with the EEG samples.

    Parameters
    ----------
    data : ndarray, shape (n_channels, n_times)
        EEG in µV.
    ch_names : tuple of str, length n_channels
    sfreq : float
        Sampling frequency in Hz.
    """
    non_finite = (~np.isfinite(data)).sum(axis=1)
    if non_finite.any():
        return [
            Problem(
                ProblemCode.NON_FINITE_VALUES,
                f"channel {name!r} has {int(n)} missing, NaN or infinite samples "
                f"of {data.shape[1]}",
            )
            for name, n in zip(ch_names, non_finite, strict=True)
            if n
        ]
    robust_amplitude = _median_absolute_deviation(data)
    std = data.std(axis=1)
    if robust_amplitude.max() < VOLTS_MAX_ROBUST_AMPLITUDE and std.max() > 0:
        return [
            Problem(
                ProblemCode.VALUES_LOOK_LIKE_VOLTS,
                f"EEG must be in µV, but every channel's median absolute deviation is below "
                f"{VOLTS_MAX_ROBUST_AMPLITUDE:g} (largest {robust_amplitude.max():.3g}, on "
                f"{ch_names[int(robust_amplitude.argmax())]!r}): the values look like volts",
            )
        ]
    return _check_flat(std, ch_names) + _check_saturated(data, ch_names, sfreq, std)


def _median_absolute_deviation(data: np.ndarray) -> np.ndarray:
    """Per-channel median absolute deviation of ``data`` (n_channels, n_times), shape (n_channels,).

    Computed on at most ``_MAD_MAX_SAMPLES`` evenly strided samples: the volts test needs the
    order of magnitude only, and exact medians of long recordings cost a quarter of a second.
    """
    subsample = data[:, :: max(1, data.shape[1] // _MAD_MAX_SAMPLES)]
    return np.median(np.abs(subsample - np.median(subsample, axis=1, keepdims=True)), axis=1)


_MAD_MAX_SAMPLES = 50_000


def _check_flat(std: np.ndarray, ch_names: tuple[str, ...]) -> list[Problem]:
    flat = std < FLAT_MAX_STD_UV
    if flat.all():
        return [
            Problem(
                ProblemCode.ALL_CHANNELS_FLAT,
                f"every EEG channel has a standard deviation below {FLAT_MAX_STD_UV:g} µV "
                f"(largest {std.max():.3g} µV)",
            )
        ]
    return [
        Problem(
            ProblemCode.FLAT_CHANNEL,
            f"channel {ch_names[i]!r} is flat: standard deviation {std[i]:.3g} µV "
            f"< {FLAT_MAX_STD_UV:g} µV",
        )
        for i in np.flatnonzero(flat)
    ]


def _check_saturated(
    data: np.ndarray, ch_names: tuple[str, ...], sfreq: float, std: np.ndarray
) -> list[Problem]:
    clipped = _clipped_fraction(data, min_run=max(2, round(SATURATION_MIN_RUN_S * sfreq)))
    saturated = (clipped > SATURATION_MAX_FRACTION) & (std >= FLAT_MAX_STD_UV)
    return [
        Problem(
            ProblemCode.SATURATED_CHANNEL,
            f"channel {ch_names[i]!r} is clipped at its extreme values for "
            f"{100 * clipped[i]:.1f} % of the samples (limit {100 * SATURATION_MAX_FRACTION:g} %)",
        )
        for i in np.flatnonzero(saturated)
    ]


def _clipped_fraction(data: np.ndarray, *, min_run: int) -> np.ndarray:
    """Fraction of each channel's samples inside runs of >= ``min_run`` samples at its min or max.

    Returns an ndarray, shape (n_channels,).
    """
    at_max = data == data.max(axis=1, keepdims=True)
    at_min = data == data.min(axis=1, keepdims=True)
    n_clipped = _samples_in_long_runs(at_max, min_run) + _samples_in_long_runs(at_min, min_run)
    return n_clipped / data.shape[1]


def _samples_in_long_runs(mask: np.ndarray, min_run: int) -> np.ndarray:
    """Per row of ``mask`` (n_rows, n_times), the count of True samples in runs >= ``min_run``."""
    edges = np.diff(np.pad(mask, ((0, 0), (1, 1))).astype(np.int8), axis=1)
    start_rows, start_cols = np.nonzero(edges == 1)
    lengths = np.nonzero(edges == -1)[1] - start_cols
    long_runs = np.where(lengths >= min_run, lengths, 0)
    return np.bincount(start_rows, weights=long_runs, minlength=mask.shape[0])


def check_arrays(
    data: np.ndarray,
    ch_names: tuple[str, ...],
    sfreq: float,
    stim: np.ndarray,
    stim_item: np.ndarray | None = None,
    *,
    epoch_window: tuple[float, float] = EPOCH_WINDOW_S,
) -> list[Problem]:
    """Every contract check on decoded arrays, in a fixed order.

    Parameters
    ----------
    data : ndarray, shape (n_channels, n_times)
        EEG in µV.
    ch_names : tuple of str, length n_channels
    sfreq : float
        Sampling frequency in Hz.
    stim : ndarray, shape (n_times,)
        Stimulus codes, any numeric dtype (not yet known to be valid).
    stim_item : ndarray, shape (n_times,) or None
        Item shown at each onset, any numeric dtype.
    epoch_window : (float, float)
        Epoch window in s around an onset that at least one flash must fit in.
    """
    problems = check_sfreq(sfreq)
    if problems:
        return problems
    problems = check_stim_values(stim)
    if stim_item is not None:
        problems += check_stim_item(stim_item)
    if not problems:
        problems += check_events(stim.astype(np.int64), sfreq, epoch_window=epoch_window)
    return problems + check_eeg(data, ch_names, sfreq)


def check_recording(
    recording: RawRecording, *, epoch_window: tuple[float, float] = EPOCH_WINDOW_S
) -> ValidationReport:
    """Validate an in-memory recording (e.g. one made by an importer) against the contract."""
    problems = tuple(
        check_arrays(
            recording.data,
            recording.ch_names,
            recording.sfreq,
            recording.stim,
            recording.stim_item,
            epoch_window=epoch_window,
        )
    )
    has_error = any(p.severity is Severity.ERROR for p in problems)
    return ValidationReport(None if has_error else recording, problems)
