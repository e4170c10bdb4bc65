"""Where the shared real recordings are, for tests that use them, and what they must show.

``$P300_SHARED_DATA`` when set (a git worktree lives away from ``shared/``), else
``<repository>/../shared/data/real`` (the checkout's neighbour, as in CI). A missing folder or file
fails the test: a test of real data that cannot find it must not pass or be skipped.
"""

import os
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import butter, sosfiltfilt

ENV_VAR = "P300_SHARED_DATA"
REPOSITORY = Path(__file__).resolve().parents[1]


def real_data_dir() -> Path:
    """The folder of the shared real recordings (holding ``p3k_mit/``, ``muse_p300/``)."""
    configured = os.environ.get(ENV_VAR)
    folder = Path(configured) if configured else REPOSITORY.parent / "shared" / "data" / "real"
    if not folder.is_dir():
        source = (
            f"${ENV_VAR}" if configured else f"<repository>/../shared/data/real (${ENV_VAR} unset)"
        )
        pytest.fail(f"the shared real recordings are missing: {source} = {folder} is not a folder")
    return folder


#: The Muse oddball recordings of ``muse_p300/`` (their stems): named, not globbed, so that a
#: missing folder fails each test that reads one instead of leaving nothing to run.
MUSE_RECORDINGS = (
    "auditory_subject_1",
    "visual_subject_1",
    "visual_subject_2",
    "visual_subject_3",
    "visual_subject_4",
    "visual_subject_5",
)


def muse_file(name: str) -> Path:
    """The Parquet file of Muse recording ``name`` (one of `MUSE_RECORDINGS`)."""
    return real_file(f"muse_p300/{name}.parquet")


def real_file(relative: str) -> Path:
    """A file of the shared real recordings, e.g. ``p3k_mit/bp2calib.dat``."""
    path = real_data_dir() / relative
    if not path.is_file():
        pytest.fail(f"the shared real recording {relative} is missing: {path} is not a file")
    return path


def assert_p300(recording):
    """Target minus non-target, 1-12 Hz: a positive peak at 250-550 ms, over twice any
    difference before the flash on that channel."""
    sos = butter(2, [1.0, 12.0], btype="bandpass", fs=recording.sfreq, output="sos")
    signal = sosfiltfilt(sos, recording.data)
    offsets = np.arange(round(-0.2 * recording.sfreq), round(0.6 * recording.sfreq))
    onsets = recording.onsets
    epochs = signal[:, onsets[:, None] + offsets].transpose(1, 0, 2)
    targets = recording.stim[onsets] == 2
    difference = epochs[targets].mean(axis=0) - epochs[~targets].mean(axis=0)
    late = (offsets >= 0.25 * recording.sfreq) & (offsets < 0.55 * recording.sfreq)
    channel = np.argmax(difference[:, late].max(axis=1))
    assert difference[channel, late].max() > 2 * np.abs(difference[channel, offsets < 0]).max()
