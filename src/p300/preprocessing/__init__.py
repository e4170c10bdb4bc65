"""System A's preprocessing: band-pass, epochs, baseline, amplitude rejection, resampling.

``preprocess`` is the public entry point. ``method="fast"`` (default) is our whole-array numpy
implementation; ``method="reference"`` runs the original MNE steps and is the ground truth the fast
path is tested against (features equal to 1e-6 of the signal scale, same kept epochs).

Importing this package (or ``p300.preprocessing.params``) loads no numpy: the Lambdas that only
need the parameters' hash (planning, ingest) start faster. The array code loads on first call.
"""

from typing import TYPE_CHECKING

from p300.preprocessing.params import PADS, PreprocessingParams

if TYPE_CHECKING:
    from p300.types import EpochFeatures, RawRecording

__all__ = ["METHODS", "PADS", "PreprocessingParams", "preprocess"]

METHODS = ("fast", "reference")


def preprocess(
    recording: "RawRecording",
    params: PreprocessingParams = PreprocessingParams(),  # noqa: B008 (frozen, so shareable)
    *,
    method: str = "fast",
    pad: str = PADS[0],
) -> "EpochFeatures":
    """Turn one raw recording into epochs and flattened feature vectors.

    Parameters
    ----------
    recording : RawRecording
        EEG in µV, shape (n_channels, n_times), any channel count and sampling rate whose Nyquist
        frequency is above ``params.h_freq``; ``stim`` marks each flash on one sample.
    params : PreprocessingParams
        System A's parameters by default.
    method : str
        ``'fast'`` or ``'reference'`` (MNE; slow, needs ~0.4 GB for 10 min × 16 ch × 512 Hz).
    pad : str
        How the band-pass filter extends the signal at its two ends, one of `PADS`:
        ``'reflect_limited'`` (MNE's default, System A's) for whole recordings; ``'symmetric'``
        (mirror) for short windows decoded online: their flashes near an edge then look more
        like they do in a long recording (see `p300.decoding.decode_window`).

    Returns
    -------
    EpochFeatures
        ``epochs`` shape (n_kept, n_channels, n_times_out) float32 µV, ``features`` shape
        (n_kept, n_channels * n_times_out) channel-major, ``labels`` 1 target / 0 non-target, and
        one metadata row per flash with its rejection reason.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if pad not in PADS:
        raise ValueError(f"pad must be one of {PADS}, got {pad!r}")
    from p300.preprocessing.epoching import check_recording

    check_recording(recording, params)
    if method == "reference":
        # Imported here: MNE takes about a second to import and only the reference needs it.
        from p300.preprocessing.reference import preprocess_reference

        return preprocess_reference(recording, params, pad=pad)
    from p300.preprocessing.fast import preprocess_fast

    return preprocess_fast(recording, params, pad=pad)
