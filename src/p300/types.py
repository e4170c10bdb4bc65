"""The data types passed between the parts of the science core."""

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # ~0.15 s of a cold start: the ingest Lambda never builds a DataFrame
    import pandas as pd

#: Stimulus codes of the ``stim`` channel (System A's coding).
STIM_NONE, STIM_NONTARGET, STIM_TARGET = 0, 1, 2


@dataclass(frozen=True)
class RawRecording:
    """One continuous EEG recording in the landing-zone contract.

    Attributes
    ----------
    data : ndarray, shape (n_channels, n_times)
        EEG in µV, float64.
    ch_names : tuple of str, length n_channels
    sfreq : float
        Sampling frequency in Hz.
    stim : ndarray, shape (n_times,)
        int8 event codes, one sample per flash onset: 0 none, 1 non-target, 2 target.
    stim_item : ndarray, shape (n_times,) or None
        int32 identity of the item (or row/column group) each flash showed, at onset samples;
        -1 elsewhere. None when the recording does not say.
    subject, session : str or None
    """

    data: np.ndarray
    ch_names: tuple[str, ...]
    sfreq: float
    stim: np.ndarray
    stim_item: np.ndarray | None = None
    subject: str | None = None
    session: str | None = None

    @property
    def n_times(self) -> int:
        return self.data.shape[1]

    @property
    def onsets(self) -> np.ndarray:
        """Sample indices of every flash onset, shape (n_flashes,)."""
        return np.flatnonzero(self.stim)


@dataclass(frozen=True)
class EpochFeatures:
    """The result of preprocessing one recording.

    Attributes
    ----------
    epochs : ndarray, shape (n_epochs, n_channels, n_times_out)
        Kept epochs after filtering, baseline correction and resampling, in µV, float32.
    features : ndarray, shape (n_epochs, n_channels * n_times_out)
        ``epochs`` flattened channel-major (channels × time), float32.
    labels : ndarray, shape (n_epochs,)
        int8: 1 target, 0 non-target.
    metadata : DataFrame, one row per flash (kept and rejected)
        Columns: ``subject``, ``onset_sample``, ``stim_item``, ``label``, ``kept`` (bool),
        ``reject_reason`` (str, empty when kept), ``epoch_index`` (row in ``epochs``, -1 if
        dropped).
    ch_names : tuple of str
    sfreq : float
        Sampling frequency of ``epochs`` in Hz.
    times : ndarray, shape (n_times_out,)
        Epoch time axis in s relative to the onset.
    params : dict
        The preprocessing parameters used (JSON-serialisable).
    summary : dict
        Counts: ``n_flashes``, ``n_kept``, ``n_rejected``, ``n_target``, ``n_nontarget`` (kept).
    """

    epochs: np.ndarray
    features: np.ndarray
    labels: np.ndarray
    metadata: "pd.DataFrame"
    ch_names: tuple[str, ...]
    sfreq: float
    times: np.ndarray
    params: dict
    summary: dict = field(default_factory=dict)
