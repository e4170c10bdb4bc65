"""What both preprocessing paths share: input checks, the epoch grid and the result's assembly."""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from p300.preprocessing.filtering import check_band
from p300.preprocessing.params import PreprocessingParams
from p300.rejection import is_amplitude_reason
from p300.types import STIM_NONE, STIM_NONTARGET, STIM_TARGET, EpochFeatures, RawRecording

#: Reasons MNE gives for epochs whose window does not fit in the recording.
NO_DATA, TOO_SHORT = "NO_DATA", "TOO_SHORT"


@dataclass(frozen=True)
class EpochGrid:
    """Sample layout of one epoch, computed the way ``mne.Epochs`` does.

    Attributes
    ----------
    first_offset : int
        Sample offset of the epoch's first sample from the flash onset (≤ 0 for tmin ≤ 0).
    n_times : int
        Samples per epoch.
    baseline : slice
        Samples of the epoch averaged for baseline correction.
    times : ndarray, shape (n_times,)
        Time of each epoch sample relative to the onset in s.
    """

    first_offset: int
    n_times: int
    baseline: slice
    times: np.ndarray


def epoch_grid(sfreq: float, params: PreprocessingParams) -> EpochGrid:
    """The epoch sample grid for a recording at ``sfreq`` Hz."""
    first = round(params.tmin * sfreq)
    last = round(params.tmax * sfreq)
    times = np.arange(first, last + 1) / sfreq
    start = int(np.flatnonzero(times >= params.baseline[0])[0])
    stop = int(np.flatnonzero(times <= params.baseline[1])[-1]) + 1
    return EpochGrid(first, len(times), slice(start, stop), times)


def check_recording(recording: RawRecording, params: PreprocessingParams) -> None:
    """Raise ValueError when ``recording`` cannot be preprocessed with ``params``."""
    data, stim = recording.data, recording.stim
    if data.ndim != 2 or data.shape[0] != len(recording.ch_names):
        raise ValueError(
            f"recording.data must have shape (n_channels={len(recording.ch_names)}, n_times), "
            f"got {data.shape}"
        )
    if not recording.sfreq > 0:
        raise ValueError(f"recording.sfreq must be > 0 Hz, got {recording.sfreq}")
    check_band(params.l_freq, params.h_freq, recording.sfreq)
    if stim.shape != (data.shape[1],):
        raise ValueError(f"recording.stim must have shape ({data.shape[1]},), got {stim.shape}")
    if recording.stim_item is not None and recording.stim_item.shape != stim.shape:
        raise ValueError(
            f"recording.stim_item must be None or have shape {stim.shape}, "
            f"got {recording.stim_item.shape}"
        )
    codes = set(np.unique(stim).tolist())
    allowed = {STIM_NONE, STIM_NONTARGET, STIM_TARGET}
    if not codes <= allowed:
        raise ValueError(f"recording.stim codes must be in {sorted(allowed)}, got {sorted(codes)}")
    if codes == {STIM_NONE}:
        raise ValueError("recording.stim has no flash onsets (all samples are 0)")
    if np.any((stim[1:] != 0) & (stim[:-1] != 0)):
        raise ValueError("recording.stim must mark each flash on one sample; found adjacent onsets")


def assemble(
    recording: RawRecording,
    params: PreprocessingParams,
    *,
    onsets: np.ndarray,
    reasons: list[str],
    kept_epochs: np.ndarray,
    times: np.ndarray,
    sfreq: float,
) -> EpochFeatures:
    """Bundle kept epochs and per-flash outcomes into ``EpochFeatures``.

    Parameters
    ----------
    recording : RawRecording
    params : PreprocessingParams
    onsets : ndarray, shape (n_flashes,)
        Onset sample of every flash considered.
    reasons : list of str, length n_flashes
        Why each flash was dropped; '' when kept.
    kept_epochs : ndarray, shape (n_kept, n_channels, n_times_out)
        In µV, in flash order.
    times : ndarray, shape (n_times_out,)
        Epoch time axis in s.
    sfreq : float
        Sampling frequency of ``kept_epochs`` in Hz.
    """
    kept = np.array([reason == "" for reason in reasons], dtype=bool)
    stim_labels = (recording.stim[onsets] == STIM_TARGET).astype(np.int8)
    items = (
        recording.stim_item[onsets].astype(np.int32)
        if recording.stim_item is not None
        else np.full(len(onsets), -1, dtype=np.int32)
    )
    epoch_index = np.where(kept, np.cumsum(kept) - 1, -1)
    metadata = pd.DataFrame(
        {
            "subject": recording.subject,
            "onset_sample": onsets.astype(np.int64),
            "stim_item": items,
            "label": stim_labels,
            "kept": kept,
            "reject_reason": reasons,
            "epoch_index": epoch_index.astype(np.int64),
        }
    )
    epochs = np.ascontiguousarray(kept_epochs, dtype=np.float32)
    labels = stim_labels[kept]
    summary = {
        "n_flashes": len(onsets),
        "n_kept": int(kept.sum()),
        "n_rejected": int((~kept).sum()),
        "n_rejected_amplitude": sum(is_amplitude_reason(reason) for reason in reasons),
        "n_rejected_edge": sum(reason in (NO_DATA, TOO_SHORT) for reason in reasons),
        "n_target": int((labels == 1).sum()),
        "n_nontarget": int((labels == 0).sum()),
    }
    return EpochFeatures(
        epochs=epochs,
        features=epochs.reshape(len(epochs), epochs.shape[1] * epochs.shape[2]),
        labels=labels,
        metadata=metadata,
        ch_names=tuple(recording.ch_names),
        sfreq=float(sfreq),
        times=times,
        params=params.to_dict(),
        summary=summary,
    )
