"""The preprocessing parameters, System A's by default."""

import hashlib
import json
from dataclasses import asdict, dataclass

from p300.checks import check_choice, check_positive

#: Windows MNE's firwin design accepts, with its filter-length factor (cycles of the transition).
FIR_WINDOWS = ("hamming", "hann", "blackman")
#: Edge paddings of the band-pass filter (MNE's ``pad``): odd reflection limited to the signal,
#: then zeros (MNE's FIR default, System A's); mirror reflection, numpy's 'symmetric'. On the real
#: speller recordings (docs/real-data.md) the epoch of a flash 0.1 s after a short window's start
#: is within 30–46 % (median relative L2) of its epoch in the whole recording with 'symmetric',
#: 42–250 % with 'reflect_limited'; 1.65 s of context (half the filter) makes them equal.
PADS = ("reflect_limited", "symmetric")
#: Epoch rejection policies (see `p300.rejection`): keep every epoch; System A's fixed µV
#: peak-to-peak threshold; a threshold per channel from the recording's own epochs.
REJECTION_POLICIES = ("none", "fixed", "robust")
#: Fields added with rejection policies. They are written by `to_dict` only for the ``robust``
#: policy: ``none`` and ``fixed`` are told by ``reject_peak_to_peak_uv`` (None or a number) as
#: before, so the digests of every features object made before policies existed stay valid.
_POLICY_FIELDS = ("rejection", "reject_robust_k")
#: The ``robust`` policy's default width: on the real recordings (docs/real-data.md) it keeps
#: 81–100 % of the epochs (k=3: 73–100 %) with the same ROC-AUC as k=3 or 4, within noise.
ROBUST_K = 5.0


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
        The ``fixed`` policy's threshold: drop an epoch when any channel's peak-to-peak amplitude
        exceeds this (µV); None keeps all.
    resample_sfreq : float or None
        Sampling frequency of the output epochs in Hz; None keeps the recording's.
    rejection : str
        The rejection policy, one of `REJECTION_POLICIES`.
    reject_robust_k : float
        The ``robust`` policy's width: a channel's threshold is its median log peak-to-peak plus
        this many robust standard deviations (1.4826 × MAD) of log peak-to-peak. Ignored (stored
        as `ROBUST_K`) by the other policies.
    """

    l_freq: float = 1.0
    h_freq: float = 20.0
    fir_window: str = "hamming"
    tmin: float = -0.1
    tmax: float = 0.6
    baseline: tuple[float, float] = (-0.1, 0.0)
    reject_peak_to_peak_uv: float | None = 100.0
    resample_sfreq: float | None = 100.0
    rejection: str = "fixed"
    reject_robust_k: float = ROBUST_K

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
        check_choice("rejection", self.rejection, REJECTION_POLICIES)
        check_positive("reject_robust_k", self.reject_robust_k)
        # One spelling per policy, so that equal policies have equal digests.
        if self.rejection != "fixed":
            object.__setattr__(self, "reject_peak_to_peak_uv", None)
        elif self.reject_peak_to_peak_uv is None:
            object.__setattr__(self, "rejection", "none")
        if self.rejection != "robust":
            object.__setattr__(self, "reject_robust_k", ROBUST_K)

    def to_dict(self) -> dict:
        """The parameters as a JSON-serialisable dict (the baseline as a list).

        ``PreprocessingParams(**params.to_dict()) == params``. The policy fields appear only for
        ``rejection="robust"`` (see `_POLICY_FIELDS`).
        """
        params = asdict(self)
        params["baseline"] = list(self.baseline)
        if self.rejection != "robust":
            for name in _POLICY_FIELDS:
                del params[name]
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
