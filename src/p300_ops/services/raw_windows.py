"""Raw EEG windows as the prediction API takes them (``/predict/raw``, ``/decode``)."""

import numpy as np

from p300.types import RawRecording

#: Raw samples travel rounded to this many decimals of a µV (far below any EEG noise floor).
UV_DECIMALS = 2


def raw_window_body(window: RawRecording) -> dict:
    """The ``raw`` object of a request: sampling rate, channels, data in µV, stim, stim_item."""
    return {
        "sfreq": window.sfreq,
        "ch_names": list(window.ch_names),
        "data": np.round(window.data, UV_DECIMALS).tolist(),
        "stim": window.stim.tolist(),
        "stim_item": None if window.stim_item is None else window.stim_item.tolist(),
    }
