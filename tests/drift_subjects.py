"""Synthetic subjects that drifted: amplitudes scaled, or one broken (flat or noisy) channel."""

from dataclasses import replace

import numpy as np

from p300.synthetic import make_session
from p300.types import RawRecording


def normal_subject(seed: int, *, duration_s: float = 60.0) -> RawRecording:
    """A synthetic session without a bad channel: what the reference subjects look like."""
    return make_session(
        seed=seed, subject=f"{seed:03d}", duration_s=duration_s, bad_channel_prob=0.0
    )


def scaled(recording: RawRecording, factor: float) -> RawRecording:
    """Every channel's amplitude (µV) multiplied by ``factor``, e.g. a wrong amplifier gain."""
    return replace(recording, data=recording.data * factor)


def with_flat_channel(recording: RawRecording, channel: int) -> RawRecording:
    """Channel ``channel`` (index) at 2 % of its amplitude: an electrode that lost contact."""
    data = recording.data.copy()
    data[channel] *= 0.02
    return replace(recording, data=data)


def with_noisy_channel(
    recording: RawRecording, channel: int, *, rms_uv: float = 50.0, seed: int = 0
) -> RawRecording:
    """Channel ``channel`` (index) with white noise of ``rms_uv`` µV RMS added (loose contact)."""
    data = recording.data.copy()
    data[channel] += rms_uv * np.random.default_rng(seed).standard_normal(data.shape[1])
    return replace(recording, data=data)
