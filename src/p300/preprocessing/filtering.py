"""Zero-phase FIR band-pass filtering, numerically equal to MNE's ``filter_data`` defaults.

MNE (``method='fir'``, ``phase='zero'``, ``fir_design='firwin'``, ``pad='reflect_limited'``)
designs the band-pass as the difference of two windowed-sinc low-passes whose lengths follow from
the transition bandwidths, pads each edge with an odd reflection of ``len(h) - 1`` samples, and
filters with overlap-add FFTs. Here the same taps are applied as one long FFT convolution per
channel, which is faster for 1–2k taps and numerically the same to ~1e-15.
"""

import numpy as np
from scipy import fft, signal

#: Filter length in cycles of the narrowest transition band, per window (MNE's ``_length_factors``).
LENGTH_FACTORS = {"hann": 3.1, "hamming": 3.3, "blackman": 5.0}


def transition_bandwidths(l_freq: float, h_freq: float, sfreq: float) -> tuple[float, float]:
    """MNE's automatic transition bandwidths in Hz for a band-pass ``l_freq``–``h_freq`` Hz."""
    l_trans = min(max(0.25 * l_freq, 2.0), l_freq)
    h_trans = min(max(0.25 * h_freq, 2.0), sfreq / 2.0 - h_freq)
    return l_trans, h_trans


def check_band(l_freq: float, h_freq: float, sfreq: float) -> None:
    """Raise ValueError unless the band-pass fits below the Nyquist frequency of ``sfreq`` Hz."""
    if not h_freq < sfreq / 2.0:
        raise ValueError(
            f"h_freq must be below the Nyquist frequency {sfreq / 2.0} Hz of sfreq={sfreq}, "
            f"got {h_freq}"
        )


def design_bandpass(
    l_freq: float, h_freq: float, sfreq: float, *, window: str = "hamming"
) -> np.ndarray:
    """Band-pass FIR taps identical to ``mne.filter.create_filter(..., fir_design='firwin')``.

    Parameters
    ----------
    l_freq, h_freq : float
        Pass-band edges in Hz.
    sfreq : float
        Sampling frequency in Hz.
    window : str
        ``'hamming'``, ``'hann'`` or ``'blackman'``.

    Returns
    -------
    taps : ndarray, shape (n_taps,)
        Odd-length, symmetric float64 taps.
    """
    check_band(l_freq, h_freq, sfreq)
    l_trans, h_trans = transition_bandwidths(l_freq, h_freq, sfreq)
    n_taps = _odd(max(int(np.ceil(LENGTH_FACTORS[window] / min(l_trans, h_trans) * sfreq)), 1))
    nyquist = sfreq / 2.0
    taps = np.zeros(n_taps)
    # MNE works on Nyquist-normalised frequencies; so do we, to get the same rounding.
    for band_lo, band_hi, sign in (
        (h_freq, h_freq + h_trans, 1.0),
        (l_freq - l_trans, l_freq, -1.0),
    ):
        lowpass = _lowpass(band_lo / nyquist, band_hi / nyquist, window=window, n_taps=n_taps)
        taps += sign * lowpass
    return taps


def _lowpass(band_lo: float, band_hi: float, *, window: str, n_taps: int) -> np.ndarray:
    """Windowed-sinc low-pass centred in the transition band, zero-padded to ``n_taps``.

    ``band_lo`` and ``band_hi`` are the transition band's edges as fractions of Nyquist; the
    low-pass is as long as that band needs, like MNE's ``_firwin_design``.
    """
    half_transition = (band_hi - band_lo) / 2.0
    own_taps = _odd(round(LENGTH_FACTORS[window] / half_transition))
    if own_taps > n_taps:
        raise ValueError(
            f"filter length {n_taps} is too short for the transition band {band_lo}–{band_hi} "
            f"× Nyquist, which needs {own_taps} taps"
        )
    cutoff = (band_lo + band_hi) / 2.0
    lowpass = signal.firwin(own_taps, cutoff, window=window, pass_zero=True, fs=2.0)
    offset = (n_taps - own_taps) // 2
    return np.pad(lowpass, (offset, offset))


def _odd(n: int) -> int:
    return n + 1 - n % 2


def filter_zero_phase(
    data: np.ndarray, taps: np.ndarray, *, out: np.ndarray | None = None
) -> np.ndarray:
    """Apply odd-length symmetric ``taps`` without delay, with MNE's 'reflect_limited' edges.

    Parameters
    ----------
    data : ndarray, shape (n_channels, n_times)
        Signal, any unit; filtered along the last axis.
    taps : ndarray, shape (n_taps,)
    out : ndarray, shape (n_channels, n_times), float64, optional
        Where to write the result, e.g. the transposed view of a time-major array.

    Returns
    -------
    filtered : ndarray, shape (n_channels, n_times), float64
        ``out`` when given.
    """
    n_channels, n_times = data.shape
    n_edge = max(min(len(taps), n_times) - 1, 0)
    n_fft = fft.next_fast_len(n_times + 2 * n_edge + len(taps) - 1, real=True)
    taps_spectrum = fft.rfft(taps, n_fft)
    start = n_edge + (len(taps) - 1) // 2
    filtered = np.empty((n_channels, n_times)) if out is None else out
    # One channel at a time keeps the FFT buffers to a single channel's worth of memory.
    for channel in range(n_channels):
        padded = _reflect_limited(np.asarray(data[channel : channel + 1], dtype=np.float64), n_edge)
        spectrum = fft.rfft(padded[0], n_fft) * taps_spectrum
        filtered[channel] = fft.irfft(spectrum, n_fft)[start : start + n_times]
    return filtered


def _reflect_limited(x: np.ndarray, n_pad: int) -> np.ndarray:
    """Odd reflection of ``n_pad`` samples at both ends, zero-filled beyond the signal length."""
    if n_pad == 0:
        return x
    n_times = x.shape[-1]
    zeros = np.zeros((*x.shape[:-1], max(n_pad - n_times + 1, 0)))
    left = 2 * x[:, :1] - x[:, n_pad:0:-1]
    right = 2 * x[:, -1:] - x[:, -2 : -n_pad - 2 : -1]
    return np.concatenate([zeros, left, x, right, zeros], axis=-1)
