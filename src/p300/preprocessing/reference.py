"""The reference path: System A's preprocessing, step by step with MNE. The ground truth.

RawArray (volts) → ``raw.filter`` (FIR firwin, MNE defaults) → ``find_events`` → ``mne.Epochs``
(baseline, peak-to-peak rejection, preload) → ``epochs.resample`` → ``get_data``. Slow and
memory-hungry; used to check the fast path and in the benchmark.

System A's ``fixed`` rejection is MNE's own ``reject``. The ``robust`` policy has no MNE
equivalent: its per-channel thresholds come from `p300.rejection` applied to MNE's epochs, which
MNE then drops with ``epochs.drop``, naming the channels as its ``reject`` does.
"""

import mne
import numpy as np

from p300.preprocessing.epoching import assemble
from p300.preprocessing.params import PreprocessingParams
from p300.rejection import amplitude_reason, amplitude_thresholds
from p300.types import STIM_NONTARGET, STIM_TARGET, EpochFeatures, RawRecording

_STIM_CHANNEL = "stim"
_VOLTS_PER_UV = 1e-6
_EVENT_NAMES = {STIM_NONTARGET: "NonTarget", STIM_TARGET: "Target"}


def preprocess_reference(
    recording: RawRecording, params: PreprocessingParams, *, pad: str = "reflect_limited"
) -> EpochFeatures:
    """Preprocess one checked recording with MNE; see ``p300.preprocessing.preprocess``."""
    raw = _raw_array(recording)
    raw.filter(
        params.l_freq,
        params.h_freq,
        method="fir",
        fir_design="firwin",
        fir_window=params.fir_window,
        pad=pad,
        verbose="error",
    )
    # Flashes are single-sample pulses, shorter than find_events' default shortest_event=2; a
    # flash on sample 0 is reported (then dropped as NO_DATA) rather than silently skipped.
    events = mne.find_events(
        raw, stim_channel=_STIM_CHANNEL, shortest_event=1, initial_event=True, verbose="error"
    )
    present = np.unique(events[:, 2])
    reject = (
        {"eeg": params.reject_peak_to_peak_uv * _VOLTS_PER_UV}
        if params.rejection == "fixed"
        else None
    )
    epochs = mne.Epochs(
        raw,
        events,
        event_id={_EVENT_NAMES[code]: int(code) for code in present},
        tmin=params.tmin,
        tmax=params.tmax,
        baseline=params.baseline,
        reject=reject,
        preload=True,
        verbose="error",
    )
    thresholds = _drop_robust(epochs, recording.ch_names, params)
    if params.resample_sfreq is not None:
        epochs.resample(params.resample_sfreq, verbose="error")
    reasons = [_reason(entry, thresholds, recording.ch_names, params) for entry in epochs.drop_log]
    return assemble(
        recording,
        params,
        onsets=events[:, 0],
        reasons=reasons,
        kept_epochs=epochs.get_data(picks="eeg") / _VOLTS_PER_UV,
        times=epochs.times,
        sfreq=epochs.info["sfreq"],
    )


def _raw_array(recording: RawRecording) -> mne.io.RawArray:
    n_channels = len(recording.ch_names)
    info = mne.create_info(
        [*recording.ch_names, _STIM_CHANNEL],
        recording.sfreq,
        ch_types=["eeg"] * n_channels + ["stim"],
    )
    # float64 before scaling: float32 µV scaled in float32 would lose the last digits.
    volts = np.asarray(recording.data, dtype=np.float64) * _VOLTS_PER_UV
    data = np.vstack([volts, recording.stim[np.newaxis, :]])
    return mne.io.RawArray(data, info, verbose="error")


def _drop_robust(
    epochs: mne.Epochs, ch_names: tuple[str, ...], params: PreprocessingParams
) -> np.ndarray | None:
    """Drop the epochs the robust policy names, each with its channels as the drop_log reason.

    Returns the per-channel thresholds in µV, or None for the other policies (MNE already
    applied ``fixed`` when it made the epochs).
    """
    if params.rejection != "robust":
        return None
    peak_to_peak = np.ptp(epochs.get_data(picks="eeg"), axis=2) / _VOLTS_PER_UV
    thresholds = amplitude_thresholds(peak_to_peak, params)
    if thresholds is None:
        return None
    names = np.array(ch_names)
    bad = [tuple(names[row].tolist()) for row in peak_to_peak > thresholds]
    # epochs.drop gives one reason to all the epochs it drops: one call per channel set.
    for channels in sorted(set(bad) - {()}):
        epochs.drop([channels_of == channels for channels_of in bad], reason=channels)
        bad = [channels_of for channels_of in bad if channels_of != channels]
    return thresholds


def _reason(
    drop_log_entry: tuple[str, ...],
    thresholds: np.ndarray | None,
    ch_names: tuple[str, ...],
    params: PreprocessingParams,
) -> str:
    """Translate one ``epochs.drop_log`` entry into our reason text."""
    if not drop_log_entry or drop_log_entry[0] in ("NO_DATA", "TOO_SHORT"):
        return "".join(drop_log_entry)
    if thresholds is None:  # MNE's reject: the fixed threshold on every channel
        thresholds = np.full(len(ch_names), params.reject_peak_to_peak_uv)
    return amplitude_reason(list(drop_log_entry), thresholds, ch_names, params)
