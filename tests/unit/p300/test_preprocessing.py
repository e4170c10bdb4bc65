"""System A preprocessing: parameters, MNE-equal building blocks, fast path == MNE reference."""

import dataclasses
import subprocess
import sys
from contextlib import nullcontext
from pathlib import Path

import mne
import numpy as np
import pyarrow.parquet as pq
import pytest
import scipy.fft
import scipy.signal

from p300.preprocessing import PreprocessingParams, preprocess
from p300.preprocessing.filtering import (
    COSINE_WINDOWS,
    design_bandpass,
    filter_zero_phase,
    next_fast_len,
    windowed_sinc_lowpass,
)
from p300.preprocessing.resampling import resample_rows_fft, resampling_matrix
from p300.synthetic import make_session
from p300.types import RawRecording
from tests.real_data import MUSE_RECORDINGS, muse_file


def read_muse(path: Path) -> RawRecording:
    """A real Muse recording: float columns are channels (µV), ``stim`` int8, sfreq in metadata."""
    table = pq.read_table(path)
    channels = [name for name in table.column_names if name != "stim"]
    return RawRecording(
        data=np.vstack([table[name].to_numpy().astype(np.float64) for name in channels]),
        ch_names=tuple(channels),
        sfreq=float(table.schema.metadata[b"sfreq"]),
        stim=table["stim"].to_numpy(),
        subject=path.stem,
    )


def assert_same_result(fast, reference):
    """Same flashes, same kept epochs and reasons, features equal to 1e-6 of the signal scale."""
    assert fast.metadata.equals(reference.metadata)
    assert fast.summary == reference.summary
    assert fast.features.shape == reference.features.shape
    assert fast.features.dtype == np.float32 and reference.features.dtype == np.float32
    scale = np.abs(reference.features).max()
    assert np.abs(fast.features - reference.features).max() <= 1e-6 * scale
    np.testing.assert_array_equal(fast.labels, reference.labels)
    np.testing.assert_allclose(fast.times, reference.times, atol=1e-12)
    assert fast.sfreq == reference.sfreq


def test_default_params_are_system_a():
    assert PreprocessingParams().to_dict() == {
        "l_freq": 1.0,
        "h_freq": 20.0,
        "fir_window": "hamming",
        "tmin": -0.1,
        "tmax": 0.6,
        "baseline": [-0.1, 0.0],
        "reject_peak_to_peak_uv": 100.0,
        "resample_sfreq": 100.0,
    }


def test_params_hash_is_stable_and_sensitive():
    # A fixed value: the hash must not change between processes or releases for the same params.
    assert PreprocessingParams().hash() == PreprocessingParams().hash()
    assert PreprocessingParams().hash() == "151317e5cdb443d6"
    assert PreprocessingParams(h_freq=30.0).hash() != PreprocessingParams().hash()
    assert PreprocessingParams(baseline=[-0.1, 0]).hash() == PreprocessingParams().hash()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"l_freq": 0.0}, "l_freq must be a number > 0, got 0.0"),
        ({"h_freq": 0.5}, "h_freq must be greater than l_freq=1.0, got 0.5"),
        ({"fir_window": "kaiser"}, r"fir_window must be one of \('hamming', 'hann', 'blackman'\)"),
        ({"tmin": 0.7}, "tmin must be less than tmax=0.6, got 0.7"),
        ({"baseline": (-0.2, 0.0)}, r"baseline must lie inside the epoch window \[-0.1, 0.6\]"),
        ({"baseline": (0.0, -0.1)}, "baseline must be .start, end. with start < end"),
        ({"reject_peak_to_peak_uv": -5}, "reject_peak_to_peak_uv must be a number > 0, got -5"),
        ({"resample_sfreq": 0}, "resample_sfreq must be a number > 0, got 0"),
    ],
)
def test_params_reject_invalid_values(changes, message):
    with pytest.raises(ValueError, match=message):
        PreprocessingParams(**changes)


@pytest.mark.parametrize("sfreq", [100.0, 250.0, 256.0, 512.0, 1000.0])
def test_bandpass_taps_equal_mne(sfreq):
    ours = design_bandpass(1.0, 20.0, sfreq)
    theirs = mne.filter.create_filter(None, sfreq, 1.0, 20.0, fir_design="firwin", verbose=False)
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("window", sorted(COSINE_WINDOWS))
@pytest.mark.parametrize(("n_taps", "cutoff"), [(1, 0.3), (3, 0.5), (101, 0.2), (1691, 0.03)])
def test_lowpass_is_bit_identical_to_scipy_firwin(window, n_taps, cutoff):
    expected = scipy.signal.firwin(n_taps, cutoff, window=window, pass_zero=True, fs=2.0)
    np.testing.assert_array_equal(windowed_sinc_lowpass(n_taps, cutoff, window=window), expected)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: windowed_sinc_lowpass(11, 0.2, window="kaiser"), "window must be one of"),
        (lambda: windowed_sinc_lowpass(11, 1.0, window="hann"), r"cutoff .* in \(0, 1\), got 1.0"),
        (lambda: next_fast_len(0), "n must be an integer >= 1, got 0"),
    ],
)
def test_filter_design_rejects_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_next_fast_len_equals_scipy():
    lengths = [*range(1, 3000), *range(311_000, 311_300)]
    assert [next_fast_len(n) for n in lengths] == [
        scipy.fft.next_fast_len(n, real=True) for n in lengths
    ]


def test_importing_the_params_loads_no_array_library():
    script = "import sys, p300.preprocessing; print('numpy' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


@pytest.mark.parametrize("n_times", [300, 5000])
def test_zero_phase_filter_equals_mne_filter_data(n_times):
    data = np.random.default_rng(0).standard_normal((3, n_times)) * 20
    ours = filter_zero_phase(data, design_bandpass(1.0, 20.0, 256.0))
    # MNE warns when the 845-tap filter is longer than the signal; it filters all the same.
    with (
        pytest.warns(RuntimeWarning, match="longer than the signal")
        if n_times < 845
        else nullcontext()
    ):
        theirs = mne.filter.filter_data(data, 256.0, 1.0, 20.0, fir_design="firwin", verbose=False)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12 * np.abs(theirs).max())
    time_major = np.empty((n_times, 3))
    filter_zero_phase(data, design_bandpass(1.0, 20.0, 256.0), out=time_major.T)
    np.testing.assert_array_equal(time_major.T, ours)


@pytest.mark.parametrize(
    ("sfreq", "n_times"), [(512.0, 359), (256.0, 180), (250.0, 176), (1000.0, 701), (64.0, 46)]
)
def test_resampling_equals_mne_epochs_resample(sfreq, n_times):
    epochs = np.random.default_rng(1).standard_normal((4, 3, n_times))
    theirs = mne.EpochsArray(epochs, mne.create_info(3, sfreq, "eeg"), tmin=-0.1, verbose=False)
    theirs.resample(100.0, verbose=False)
    # Equal up to the last bit or two (MNE multiplies by a float window array; we by a scalar).
    np.testing.assert_allclose(
        resample_rows_fft(epochs, sfreq, 100.0), theirs.get_data(), atol=1e-14
    )
    as_matrix = (resampling_matrix(n_times, sfreq, 100.0) @ epochs.reshape(-1, n_times).T).T
    np.testing.assert_allclose(
        as_matrix.reshape(theirs.get_data().shape), theirs.get_data(), atol=1e-12
    )


def test_resampling_matrix_is_identity_at_the_same_rate():
    np.testing.assert_array_equal(resampling_matrix(71, 100.0, 100.0), np.eye(71))


@pytest.mark.parametrize(("n_channels", "sfreq"), [(16, 512.0), (4, 256.0), (8, 250.0)])
def test_fast_equals_reference_on_synthetic_sessions(n_channels, sfreq):
    recording = make_session(seed=21, n_channels=n_channels, sfreq=sfreq, duration_s=60)
    fast, reference = preprocess(recording), preprocess(recording, method="reference")
    assert_same_result(fast, reference)
    n_times_out = len(fast.times)
    assert fast.epochs.shape == (fast.summary["n_kept"], n_channels, n_times_out)
    assert fast.features.shape[1] == n_channels * n_times_out
    # Channel-major flattening: the first n_times_out features are channel 0's time course.
    np.testing.assert_array_equal(fast.features[:, :n_times_out], fast.epochs[:, 0, :])
    assert fast.summary["n_rejected_amplitude"] > 0


def test_fast_equals_reference_with_other_params():
    recording = make_session(seed=4, n_channels=6, sfreq=256.0, duration_s=40)
    params = PreprocessingParams(
        l_freq=0.5, h_freq=30.0, tmin=-0.2, tmax=0.8, baseline=(-0.2, 0.0),
        reject_peak_to_peak_uv=None, resample_sfreq=64.0, fir_window="hann",
    )  # fmt: skip
    fast, reference = (
        preprocess(recording, params),
        preprocess(recording, params, method="reference"),
    )
    assert_same_result(fast, reference)
    assert fast.summary["n_rejected_amplitude"] == 0
    assert fast.params == params.to_dict()


def test_float32_recordings_give_the_same_result_in_both_paths():
    recording = make_session(seed=5, n_channels=4, sfreq=256.0, duration_s=30)
    single = dataclasses.replace(recording, data=recording.data.astype(np.float32))
    assert_same_result(preprocess(single), preprocess(single, method="reference"))


def test_epochs_past_the_edges_are_dropped_like_mne():
    recording = make_session(seed=2, n_channels=4, sfreq=256.0, duration_s=20)
    stim = np.zeros_like(recording.stim)
    stim[[10, 2000, 3000, recording.n_times - 20]] = [1, 2, 1, 2]
    edgy = dataclasses.replace(recording, stim=stim, stim_item=None)
    fast, reference = preprocess(edgy), preprocess(edgy, method="reference")
    assert_same_result(fast, reference)
    reasons = fast.metadata["reject_reason"].tolist()
    assert reasons[0] == "NO_DATA" and reasons[-1] == "TOO_SHORT"
    assert fast.metadata["stim_item"].eq(-1).all()


def test_fast_path_handles_a_recording_where_every_epoch_is_dropped():
    recording = make_session(seed=2, n_channels=4, sfreq=256.0, duration_s=20)
    stim = np.zeros_like(recording.stim)
    stim[[3, recording.n_times - 3]] = [1, 2]
    features = preprocess(dataclasses.replace(recording, stim=stim))
    assert features.epochs.shape == (0, 4, 71) and features.features.shape == (0, 4 * 71)
    assert features.metadata["reject_reason"].tolist() == ["NO_DATA", "TOO_SHORT"]
    assert features.summary["n_kept"] == 0


@pytest.mark.parametrize("name", MUSE_RECORDINGS)
def test_fast_equals_reference_on_real_recordings(name):
    recording = read_muse(muse_file(name))
    fast, reference = preprocess(recording), preprocess(recording, method="reference")
    assert_same_result(fast, reference)
    summary = fast.summary
    assert summary["n_kept"] > 0.3 * summary["n_flashes"]
    assert summary["n_target"] > 0 and summary["n_nontarget"] > summary["n_target"]
    # 256 Hz epochs span samples −26…154 (181 samples, −0.102…0.602 s), 71 samples at 100 Hz.
    assert fast.epochs.shape[1:] == (4, 71)


def test_rejection_reason_names_the_channels():
    features = preprocess(make_session(seed=21, duration_s=60))
    dropped = features.metadata.loc[~features.metadata["kept"], "reject_reason"]
    assert dropped.str.fullmatch(r"peak_to_peak>100uV on [A-Za-z0-9]+(,[A-Za-z0-9]+)*").all()
    assert (features.metadata["epoch_index"] >= 0).sum() == len(features.features)


@pytest.fixture(scope="module")
def small_recording():
    return make_session(seed=0, n_channels=4, sfreq=256.0, duration_s=20)


def _with_stim(recording, positions, codes):
    stim = np.zeros_like(recording.stim)
    stim[positions] = codes
    return dataclasses.replace(recording, stim=stim)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda r: _with_stim(r, [100, 500], [1, 3]),
            r"stim codes must be in \[0, 1, 2\], got \[0, 1, 3\]",
        ),
        (lambda r: _with_stim(r, [100, 101], [1, 2]), "adjacent onsets"),
        (lambda r: _with_stim(r, [], []), "no flash onsets"),
        (
            lambda r: dataclasses.replace(r, stim_item=r.stim_item[:10]),
            r"stim_item must be None or have shape \(5120,\), got \(10,\)",
        ),
        (lambda r: dataclasses.replace(r, stim=r.stim[:-1]), r"stim must have shape \(5120,\)"),
        (
            lambda r: dataclasses.replace(r, ch_names=r.ch_names[:2]),
            r"data must have shape \(n_channels=2",
        ),
        (
            lambda r: dataclasses.replace(r, sfreq=32.0),
            "h_freq must be below the Nyquist frequency 16.0",
        ),
    ],
)
def test_preprocess_rejects_unusable_recordings(small_recording, change, message):
    with pytest.raises(ValueError, match=message):
        preprocess(change(small_recording))


def test_preprocess_rejects_unknown_method(small_recording):
    with pytest.raises(
        ValueError, match=r"method must be one of \('fast', 'reference'\), got 'mne'"
    ):
        preprocess(small_recording, method="mne")
