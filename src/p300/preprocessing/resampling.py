"""FFT resampling of epochs, numerically equal to MNE's ``Epochs.resample`` defaults.

MNE (``method='fft'``, ``npad='auto'``, ``window='auto'`` i.e. boxcar, ``pad='edge'``) pads each
row with its edge values up to a power-of-two length, truncates (or zero-extends) the spectrum,
scales it by ``new_len / old_len`` and trims the padding off again. Here that runs on all epochs
and channels in one batched real FFT.
"""

import numpy as np
from scipy import fft


def resampled_length(n_times: int, sfreq: float, new_sfreq: float) -> int:
    """Number of samples MNE keeps after resampling ``n_times`` samples from sfreq to new_sfreq."""
    return max(round(new_sfreq / sfreq * n_times), 1)


def resample_epochs(epochs: np.ndarray, sfreq: float, new_sfreq: float) -> np.ndarray:
    """Resample along the last axis from ``sfreq`` to ``new_sfreq`` Hz like MNE.

    Parameters
    ----------
    epochs : ndarray, shape (n_epochs, n_channels, n_times)
        Any unit.
    sfreq, new_sfreq : float
        Old and new sampling frequencies in Hz.

    Returns
    -------
    resampled : ndarray, shape (n_epochs, n_channels, n_times_out), float64
        ``n_times_out`` is ``resampled_length(n_times, sfreq, new_sfreq)``.
    """
    if np.isclose(sfreq, new_sfreq, rtol=1e-6, atol=0):
        return np.asarray(epochs, dtype=np.float64)
    ratio = float(new_sfreq) / sfreq
    n_times = epochs.shape[-1]
    final_len = resampled_length(n_times, sfreq, new_sfreq)
    pad_before, pad_after = _auto_padding(n_times)
    old_len = n_times + pad_before + pad_after
    new_len = max(round(ratio * old_len), 1)
    trim_before = round(ratio * pad_before)
    trim_after = new_len - final_len - trim_before

    pad_width = [(0, 0)] * (epochs.ndim - 1) + [(pad_before, pad_after)]
    padded = np.pad(np.asarray(epochs, dtype=np.float64), pad_width, mode="edge")
    spectrum = fft.rfft(padded, axis=-1)
    use_len = min(new_len, old_len)
    if use_len % 2 == 0:
        # The Nyquist bin is counted once in a real spectrum but twice in a complex one.
        spectrum[..., use_len // 2] *= 2.0 if new_len < old_len else 0.5
    spectrum *= float(new_len) / float(old_len)
    resampled = fft.irfft(spectrum, new_len, axis=-1)
    return resampled[..., trim_before : new_len - trim_after]


def _auto_padding(n_times: int) -> tuple[int, int]:
    """MNE's ``npad='auto'``: pad to the next power of two above n_times + a small margin."""
    min_add = min(n_times // 8, 100) * 2
    total = 2 ** int(np.ceil(np.log2(n_times + min_add))) - n_times
    half, extra = divmod(total, 2)
    return half, half + extra
