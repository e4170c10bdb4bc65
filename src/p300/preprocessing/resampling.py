"""FFT resampling of epochs, numerically equal to MNE's ``Epochs.resample`` defaults.

MNE (``method='fft'``, ``npad='auto'``, ``window='auto'`` i.e. boxcar, ``pad='edge'``) pads each
row with its edge values up to a power-of-two length, truncates (or zero-extends) the spectrum,
scales it by ``new_len / old_len`` and trims the padding off again. Every step is linear, so the
whole procedure is one matrix per (epoch length, rates): we build it once by resampling the
identity with MNE's steps (``resample_rows_fft``), then resample many epochs and channels with a
single matrix product.
"""

from functools import lru_cache

import numpy as np


def resampled_length(n_times: int, sfreq: float, new_sfreq: float) -> int:
    """Number of samples MNE keeps after resampling ``n_times`` samples from sfreq to new_sfreq."""
    return max(round(new_sfreq / sfreq * n_times), 1)


@lru_cache(maxsize=16)
def resampling_matrix(n_times: int, sfreq: float, new_sfreq: float) -> np.ndarray:
    """MNE's FFT resampling of ``n_times`` samples as a read-only (n_times_out, n_times) matrix.

    ``matrix @ x`` resamples ``x`` (n_times, ...) from ``sfreq`` to ``new_sfreq`` Hz; the identity
    when the rates match (MNE then leaves the data alone).
    """
    if np.isclose(sfreq, new_sfreq, rtol=1e-6, atol=0):
        matrix = np.eye(n_times)
    else:
        matrix = resample_rows_fft(np.eye(n_times), sfreq, new_sfreq).T.copy()
    matrix.flags.writeable = False
    return matrix


def resample_rows_fft(epochs: np.ndarray, sfreq: float, new_sfreq: float) -> np.ndarray:
    """MNE's FFT resampling steps along the last axis of ``epochs`` (..., n_times), float64."""
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
    spectrum = np.fft.rfft(padded, axis=-1)
    use_len = min(new_len, old_len)
    if use_len % 2 == 0:
        # The Nyquist bin is counted once in a real spectrum but twice in a complex one.
        spectrum[..., use_len // 2] *= 2.0 if new_len < old_len else 0.5
    spectrum *= float(new_len) / float(old_len)
    resampled = np.fft.irfft(spectrum, new_len, axis=-1)
    return resampled[..., trim_before : new_len - trim_after]


def _auto_padding(n_times: int) -> tuple[int, int]:
    """MNE's ``npad='auto'``: pad to the next power of two above n_times + a small margin."""
    min_add = min(n_times // 8, 100) * 2
    total = 2 ** int(np.ceil(np.log2(n_times + min_add))) - n_times
    half, extra = divmod(total, 2)
    return half, half + extra
