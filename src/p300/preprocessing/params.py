"""The preprocessing parameters, System A's by default."""

import hashlib
import json
from dataclasses import asdict, dataclass

from p300.checks import check_positive

#: Windows MNE's firwin design accepts, with its filter-length factor (cycles of the transition).
FIR_WINDOWS = ("hamming", "hann", "blackman")


@dataclass(frozen=True)
class PreprocessingParams:
    """How one recording becomes epochs and feature vectors.

    The defaults are System A's: FIR band-pass 1–20 Hz (firwin, Hamming window, zero phase, MNE's
    automatic transition bandwidths and filter length), epochs −0.1…0.6 s around each flash,
    baseline (−0.1, 0) s, drop epochs whose peak-to-peak exceeds 100 µV on any EEG channel,
    resample to 100 Hz.

    Attributes
    ----------
    l_freq, h_freq : float
        Pass-band edges of the band-pass filter in Hz.
    fir_window : str
        Window of the firwin design, one of ``FIR_WINDOWS``.
    tmin, tmax : float
        Epoch window around each flash onset in s.
    baseline : tuple of float
        ``(start, end)`` of the baseline interval in s, inside ``[tmin, tmax]``.
    reject_peak_to_peak_uv : float or None
        Drop an epoch when any channel's peak-to-peak amplitude exceeds this (µV); None keeps all.
    resample_sfreq : float or None
        Sampling frequency of the output epochs in Hz; None keeps the recording's.
    """

    l_freq: float = 1.0
    h_freq: float = 20.0
    fir_window: str = "hamming"
    tmin: float = -0.1
    tmax: float = 0.6
    baseline: tuple[float, float] = (-0.1, 0.0)
    reject_peak_to_peak_uv: float | None = 100.0
    resample_sfreq: float | None = 100.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "baseline", tuple(float(b) for b in self.baseline))
        check_positive("l_freq", self.l_freq)
        if not self.h_freq > self.l_freq:
            raise ValueError(f"h_freq must be greater than l_freq={self.l_freq}, got {self.h_freq}")
        if self.fir_window not in FIR_WINDOWS:
            raise ValueError(f"fir_window must be one of {FIR_WINDOWS}, got {self.fir_window!r}")
        if not self.tmin < self.tmax:
            raise ValueError(f"tmin must be less than tmax={self.tmax}, got {self.tmin}")
        _check_baseline(self.baseline, self.tmin, self.tmax)
        if self.reject_peak_to_peak_uv is not None:
            check_positive("reject_peak_to_peak_uv", self.reject_peak_to_peak_uv)
        if self.resample_sfreq is not None:
            check_positive("resample_sfreq", self.resample_sfreq)

    def to_dict(self) -> dict:
        """The parameters as a JSON-serialisable dict (the baseline as a list)."""
        params = asdict(self)
        params["baseline"] = list(self.baseline)
        return params

    def hash(self) -> str:
        """A stable 16-hex-digit digest of the parameters, equal across processes and runs."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _check_baseline(baseline: tuple[float, ...], tmin: float, tmax: float) -> None:
    if len(baseline) != 2 or not baseline[0] < baseline[1]:
        raise ValueError(f"baseline must be (start, end) with start < end, got {baseline}")
    if baseline[0] < tmin or baseline[1] > tmax:
        raise ValueError(
            f"baseline must lie inside the epoch window [{tmin}, {tmax}] s, got {baseline}"
        )
