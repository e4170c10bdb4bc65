"""The band-pass filter's edge padding: MNE's 'reflect_limited' (System A's) or 'symmetric'."""

import dataclasses

import numpy as np
import pytest

from p300.preprocessing import PADS, PreprocessingParams, preprocess
from p300.preprocessing.filtering import design_bandpass, filter_zero_phase
from p300.synthetic import make_session
from tests.unit.p300.test_preprocessing import assert_same_result


@pytest.fixture(scope="module")
def short_window():
    """10 s whose first flash is 1 s from the start, inside the filter's reach (1.65 s)."""
    session = make_session(seed=8, n_channels=4, sfreq=256.0, duration_s=12)
    start = 256
    return dataclasses.replace(
        session,
        data=session.data[:, start:],
        stim=session.stim[start:],
        stim_item=session.stim_item[start:],
    )


def test_mirror_padding_equals_mne(short_window):
    fast = preprocess(short_window, pad="symmetric")
    assert_same_result(fast, preprocess(short_window, method="reference", pad="symmetric"))
    default = preprocess(short_window)
    assert fast.metadata["onset_sample"].equals(default.metadata["onset_sample"])
    assert not np.allclose(fast.epochs[0], default.epochs[0])


@pytest.mark.parametrize("pad", PADS)
def test_padding_only_changes_the_edges(pad):
    data = np.random.default_rng(0).standard_normal((2, 4000))
    taps = design_bandpass(1.0, 20.0, 256.0)
    default = filter_zero_phase(data, taps)
    padded = filter_zero_phase(data, taps, pad=pad)
    middle = slice(len(taps), -len(taps))
    np.testing.assert_allclose(padded[:, middle], default[:, middle], atol=1e-12)


def test_unknown_padding_is_refused(short_window):
    with pytest.raises(ValueError, match=r"pad must be one of \('reflect_limited', 'symmetric'\)"):
        preprocess(short_window, PreprocessingParams(), pad="edge")
