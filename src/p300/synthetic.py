"""Synthetic P300 sessions shaped like Brain Invaders recordings, deterministic from a seed.

A session is a sum of sources, each projected onto the scalp with a smooth topography over the
16-channel Brain Invaders montage: spatially correlated 1/f background, occipital alpha, early
visual components (P1/N1) after every flash, a parietal-central P300 after target flashes (per
subject amplitude, latency and width, with trial-to-trial jitter), frontal eye blinks (100–300 µV),
temporal muscle bursts, slow drift, 50 Hz line noise and, now and then, one bad channel.

Flashes come in repetitions: each repetition flashes the 12 groups (6 rows, 6 columns of a 6 × 6
grid) once in random order; the attended item lies in one row and one column, so 2 of 12 flashes
(1/6) are targets. The attended item changes after every trial of a few repetitions.
"""

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from scipy import fft, signal

from p300.checks import check_range
from p300.types import STIM_NONTARGET, STIM_TARGET, RawRecording

#: The Brain Invaders montage, in the order System A's eeg_ch1…eeg_ch16 columns follow.
BRAIN_INVADERS_CHANNELS = (
    *("Fp1", "Fp2", "F5", "AFz", "F6", "T7", "Cz", "T8"),
    *("P7", "P3", "Pz", "P4", "P8", "O1", "Oz", "O2"),
)

# Approximate scalp positions (x: left → right, y: back → front) on the unit disc.
_POSITIONS = {
    "Fp1": (-0.3, 0.95), "Fp2": (0.3, 0.95), "F5": (-0.6, 0.5), "AFz": (0.0, 0.75),
    "F6": (0.6, 0.5), "T7": (-1.0, 0.0), "Cz": (0.0, 0.0), "T8": (1.0, 0.0),
    "P7": (-0.8, -0.6), "P3": (-0.4, -0.5), "Pz": (0.0, -0.5), "P4": (0.4, -0.5),
    "P8": (0.8, -0.6), "O1": (-0.3, -0.95), "Oz": (0.0, -1.0), "O2": (0.3, -0.95),
}  # fmt: skip

N_GROUPS = 12
LINE_FREQ_HZ = 50.0


@dataclass(frozen=True)
class SubjectTraits:
    """What makes one synthetic subject differ from another.

    The P300 is a Gaussian bump: ``p300_amplitude`` µV at its peak (before trial-to-trial
    jitter), centred ``p300_latency`` s after the flash, with standard deviation ``p300_width``
    s. RMS amplitudes are in µV, ``alpha_freq`` in Hz, ``blink_rate_hz`` in blinks per second;
    ``bad_channel`` is a channel index or None.
    """

    p300_amplitude: float
    p300_latency: float
    p300_width: float
    background_rms: float
    alpha_freq: float
    alpha_rms: float
    blink_rate_hz: float
    bad_channel: int | None


def draw_traits(
    rng: np.random.Generator, n_channels: int, *, bad_channel_prob: float
) -> SubjectTraits:
    """Draw one subject's traits.

    The P300 amplitude range is tuned for honest difficulty: System A's StandardScaler + shrinkage
    LDA, trained on 9 subjects and scored on the 10th (10-minute sessions), reaches ROC-AUC
    0.77–0.92 (mean 0.83), like real Brain Invaders data and never near 1.
    """
    has_bad = rng.random() < bad_channel_prob
    return SubjectTraits(
        p300_amplitude=rng.uniform(10.0, 15.0),
        p300_latency=rng.uniform(0.30, 0.42),
        p300_width=rng.uniform(0.08, 0.12),
        background_rms=rng.uniform(10.0, 15.0),
        alpha_freq=rng.uniform(9.0, 11.5),
        alpha_rms=rng.uniform(2.0, 6.0),
        blink_rate_hz=rng.uniform(0.08, 0.25),
        bad_channel=int(rng.integers(n_channels)) if has_bad else None,
    )


def make_session(
    *,
    seed: int,
    subject: str = "01",
    n_channels: int = 16,
    sfreq: float = 512.0,
    duration_s: float = 600.0,
    soa_s: float = 0.25,
    repetitions_per_trial: int = 8,
    bad_channel_prob: float = 0.15,
) -> RawRecording:
    """One synthetic session; the same arguments always give identical arrays.

    Parameters
    ----------
    seed : int
        Seeds everything: the subject's traits, the flash sequence and every noise source.
    subject : str
        Stored in the recording, e.g. ``'01'``.
    n_channels : int
        1–16; fewer than 16 takes channels spread evenly over the Brain Invaders montage.
    sfreq : float
        Sampling frequency in Hz (≥ 64 Hz; 50 Hz line noise is added only below Nyquist).
    duration_s : float
        Length in s (≥ 10 s).
    soa_s : float
        Mean stimulus onset asynchrony in s (0.1–1.0); each flash is jittered by ±0.03 s.
    repetitions_per_trial : int
        Repetitions (12 flashes each) before the attended item changes.
    bad_channel_prob : float
        Chance in [0, 1] that one channel is bad (noisy with strong line noise, or nearly flat).

    Returns
    -------
    RawRecording
        ``data`` shape (n_channels, n_times) in µV, float64; ``stim`` int8 and ``stim_item``
        int32 (group 0–11) at flash onsets.
    """
    check_range("n_channels", n_channels, low=1, high=len(BRAIN_INVADERS_CHANNELS))
    check_range("sfreq", sfreq, low=64.0, high=10_000.0)
    check_range("duration_s", duration_s, low=10.0, high=86_400.0)
    check_range("soa_s", soa_s, low=0.1, high=1.0)
    check_range("repetitions_per_trial", repetitions_per_trial, low=1, high=100)
    check_range("bad_channel_prob", bad_channel_prob, low=0.0, high=1.0)
    rng = np.random.default_rng(seed)
    traits = draw_traits(rng, n_channels, bad_channel_prob=bad_channel_prob)
    n_times = round(duration_s * sfreq)
    onsets, items, is_target = _flash_sequence(
        rng, n_times, sfreq, soa_s=soa_s, repetitions=repetitions_per_trial
    )
    return _render(rng, traits, n_channels, sfreq, onsets, items, is_target,
                   n_times=n_times, subject=subject, session="synthetic")  # fmt: skip


def make_oddball_session(
    *,
    seed: int,
    onsets_s: np.ndarray,
    items: np.ndarray,
    is_target: np.ndarray,
    duration_s: float,
    subject: str = "01",
    session: str = "synthetic",
    n_channels: int = 16,
    sfreq: float = 512.0,
    bad_channel_prob: float = 0.15,
    p300_gain: float = 1.0,
) -> RawRecording:
    """A synthetic session of a flash sequence chosen by the caller (e.g. one item at a time, as
    System B's birthdate oddball), with `make_session`'s subjects and noise sources.

    Parameters
    ----------
    seed : int
        Seeds the subject's traits and every noise source.
    onsets_s : array-like, shape (n_flashes,)
        Flash onset times in s, inside ``[0, duration_s)``.
    items : array-like of int, shape (n_flashes,)
        Item (≥ 0) each flash showed; stored in ``stim_item``.
    is_target : array-like of bool, shape (n_flashes,)
        Whether each flash showed an attended item (it then evokes a P300).
    duration_s, subject, session, n_channels, sfreq, bad_channel_prob
        As in `make_session`.
    p300_gain : float
        0.5–4; scales the subject's P300 amplitude (rarer targets evoke a larger P300 than the
        1 in 6 of `make_session`'s speller).

    Returns
    -------
    RawRecording
        ``data`` shape (n_channels, n_times) in µV, float64; ``stim`` and ``stim_item`` at the
        flash onsets.
    """
    check_range("n_channels", n_channels, low=1, high=len(BRAIN_INVADERS_CHANNELS))
    check_range("sfreq", sfreq, low=64.0, high=10_000.0)
    check_range("duration_s", duration_s, low=10.0, high=86_400.0)
    check_range("bad_channel_prob", bad_channel_prob, low=0.0, high=1.0)
    check_range("p300_gain", p300_gain, low=0.5, high=4.0)
    onsets = np.round(np.asarray(onsets_s, dtype=float) * sfreq).astype(np.int64)
    items, is_target = np.asarray(items, dtype=np.int32), np.asarray(is_target, dtype=bool)
    if not len(onsets) == len(items) == len(is_target):
        raise ValueError(
            f"onsets_s, items and is_target must have one entry per flash, got lengths "
            f"{len(onsets)}, {len(items)} and {len(is_target)}"
        )
    n_times = round(duration_s * sfreq)
    if len(onsets) and (onsets.min() < 0 or onsets.max() >= n_times):
        raise ValueError(
            f"onsets_s must lie in [0, {duration_s}) s, got {onsets.min() / sfreq}–"
            f"{onsets.max() / sfreq} s"
        )
    rng = np.random.default_rng(seed)
    traits = draw_traits(rng, n_channels, bad_channel_prob=bad_channel_prob)
    traits = replace(traits, p300_amplitude=p300_gain * traits.p300_amplitude)
    return _render(rng, traits, n_channels, sfreq, onsets, items, is_target,
                   n_times=n_times, subject=subject, session=session)  # fmt: skip


def _render(
    rng: np.random.Generator,
    traits: SubjectTraits,
    n_channels: int,
    sfreq: float,
    onsets: np.ndarray,
    items: np.ndarray,
    is_target: np.ndarray,
    *,
    n_times: int,
    subject: str,
    session: str,
) -> RawRecording:
    """Every source summed for these flashes (onset samples, items, target flags)."""
    ch_names = _pick_channels(n_channels)
    positions = np.array([_POSITIONS[name] for name in ch_names])
    # Every source is a few time courses with a scalp topography each; one product sums them.
    sources = [
        _alpha(rng, positions, n_times, sfreq, traits),
        _evoked(rng, positions, n_times, sfreq, onsets, is_target, traits),
        _blinks(rng, positions, n_times, sfreq, traits.blink_rate_hz),
        _muscle(rng, positions, n_times, sfreq),
        _drift_and_line(rng, n_channels, n_times, sfreq),
    ]
    topographies = np.concatenate([topography for topography, _ in sources], axis=1)
    courses = np.concatenate([course for _, course in sources], axis=0)
    data = _background(rng, positions, n_times, sfreq, traits.background_rms)
    data += topographies @ courses
    if traits.bad_channel is not None:
        data[traits.bad_channel] = _spoil(rng, data[traits.bad_channel], sfreq)
    stim = np.zeros(n_times, dtype=np.int8)
    stim[onsets] = np.where(is_target, STIM_TARGET, STIM_NONTARGET)
    stim_item = np.full(n_times, -1, dtype=np.int32)
    stim_item[onsets] = items
    return RawRecording(
        data=data, ch_names=ch_names, sfreq=float(sfreq), stim=stim, stim_item=stim_item,
        subject=subject, session=session,
    )  # fmt: skip


def subject_session(*, seed: int, subject_number: int, **options) -> RawRecording:
    """Subject ``subject_number`` (1-based) of a synthetic cohort, in our form.

    The same session ``write_system_a_layout(..., seed=seed)`` writes for that subject; ``options``
    go to ``make_session`` (e.g. ``duration_s``).
    """
    check_range("subject_number", subject_number, low=1, high=99)
    subject_seed = int(np.random.SeedSequence([seed, subject_number]).generate_state(1)[0])
    return make_session(seed=subject_seed, subject=f"{subject_number:02d}", **options)


def write_system_a_layout(
    root: Path, *, n_subjects: int, seed: int, duration_s: float = 600.0
) -> list[Path]:
    """Write a synthetic cohort in System A's layout: ``subject_XX/subject_XX_eeg_stim.parquet``.

    Columns ``eeg_ch1`` … ``eeg_ch16`` (float32, µV) and ``stim`` (int8: 0 none, 1 non-target,
    2 target), 512 Hz, subjects numbered from 01.

    Returns
    -------
    list of Path
        The written files, in subject order.
    """
    check_range("n_subjects", n_subjects, low=1, high=99)
    paths = []
    for number in range(1, n_subjects + 1):
        recording = subject_session(seed=seed, subject_number=number, duration_s=duration_s)
        path = Path(root) / f"subject_{number:02d}" / f"subject_{number:02d}_eeg_stim.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_system_a_parquet(recording, path)
        paths.append(path)
    return paths


def write_system_a_parquet(recording: RawRecording, destination) -> None:
    """Write ``recording`` in System A's form: ``eeg_ch1`` … ``eeg_chN`` (float32 µV) and ``stim``
    (int8), no metadata (System A's readers assume 512 Hz). ``destination``: path or binary file."""
    columns = {
        f"eeg_ch{i + 1}": pa.array(row, pa.float32()) for i, row in enumerate(recording.data)
    }
    columns["stim"] = pa.array(recording.stim, pa.int8())
    # Dictionary-encoding noisy floats only costs time (10×) and space (+45 %).
    pq.write_table(pa.table(columns), destination, use_dictionary=["stim"])


def _pick_channels(n_channels: int) -> tuple[str, ...]:
    spread = np.linspace(0, len(BRAIN_INVADERS_CHANNELS) - 1, n_channels).round().astype(int)
    return tuple(BRAIN_INVADERS_CHANNELS[i] for i in spread)


def _topography(positions: np.ndarray, centre: tuple[float, float], width: float) -> np.ndarray:
    """Gaussian weight per channel, shape (n_channels,), 1 at ``centre`` of the unit disc."""
    squared = ((positions - np.asarray(centre)) ** 2).sum(axis=1)
    return np.exp(-squared / (2 * width**2))


def _flash_sequence(
    rng: np.random.Generator, n_times: int, sfreq: float, *, soa_s: float, repetitions: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Onset samples, group identities and target flags of every flash, in time order."""
    onset_times, items, targets = [], [], []
    t, end = 2.0, n_times / sfreq - 1.0
    while t < end:
        attended_row, attended_column = rng.integers(6, size=2)
        target_groups = (attended_row, 6 + attended_column)
        for _ in range(repetitions):
            for group in rng.permutation(N_GROUPS):
                if t >= end:
                    break
                onset_times.append(t)
                items.append(group)
                targets.append(group in target_groups)
                t += soa_s + rng.uniform(-0.03, 0.03)
        t += rng.uniform(2.0, 4.0)  # pause while the game shows the result
    onsets = np.round(np.array(onset_times) * sfreq).astype(np.int64)
    return onsets, np.array(items, dtype=np.int32), np.array(targets, dtype=bool)


def _shaped_noise(
    rng: np.random.Generator, n_signals: int, n_times: int, sfreq: float, amplitude
) -> np.ndarray:
    """Gaussian noise with spectral amplitude ``amplitude(freqs)``, unit RMS, (n_signals, n_times).

    Drawn directly in the frequency domain (the spectrum of white Gaussian noise is complex
    Gaussian) and in float32, which is plenty for noise and twice as fast.
    """
    freqs = fft.rfftfreq(n_times, 1 / sfreq)
    spectrum = rng.standard_normal((n_signals, len(freqs), 2), dtype=np.float32).view(np.complex64)
    spectrum = spectrum[..., 0] * amplitude(freqs).astype(np.float32)
    noise = fft.irfft(spectrum, n_times, axis=-1)
    return noise / noise.std(axis=-1, keepdims=True)


def _background(
    rng: np.random.Generator, positions: np.ndarray, n_times: int, sfreq: float, rms: float
) -> np.ndarray:
    """Spatially smooth 1/f background of ``rms`` µV per channel, (n_channels, n_times) float64."""
    n_channels = len(positions)
    pink = _shaped_noise(rng, n_channels, n_times, sfreq, lambda f: 1 / np.sqrt(np.maximum(f, 0.5)))
    squared = ((positions[:, None, :] - positions[None, :, :]) ** 2).sum(axis=-1)
    covariance = 0.6 * np.exp(-squared / (2 * 0.5**2)) + 0.4 * np.eye(n_channels)
    mixing = (rms * np.linalg.cholesky(covariance)).astype(np.float32)
    return (mixing @ pink).astype(np.float64)


def _alpha(
    rng: np.random.Generator,
    positions: np.ndarray,
    n_times: int,
    sfreq: float,
    traits: SubjectTraits,
) -> tuple[np.ndarray, np.ndarray]:
    """Occipital alpha around the subject's frequency with a slowly waxing and waning envelope."""
    peak = traits.alpha_freq
    alpha = _shaped_noise(rng, 1, n_times, sfreq, lambda f: np.exp(-((f - peak) ** 2) / 0.72))
    envelope = 1 + 0.6 * _shaped_noise(rng, 1, n_times, sfreq, lambda f: (f < 0.3) * 1.0)
    course = traits.alpha_rms * alpha * np.clip(envelope, 0, None)
    return _topography(positions, (0.0, -0.9), 0.6)[:, np.newaxis], course


def _evoked(
    rng: np.random.Generator,
    positions: np.ndarray,
    n_times: int,
    sfreq: float,
    onsets: np.ndarray,
    is_target: np.ndarray,
    traits: SubjectTraits,
) -> tuple[np.ndarray, np.ndarray]:
    """P1/N1 (µV) at occipital sites after every flash; a parietal-central P300 after targets."""
    t = np.arange(int(0.8 * sfreq)) / sfreq
    visual_kernel = 4 * np.exp(-((t - 0.10) ** 2) / (2 * 0.015**2)) - 5 * np.exp(
        -((t - 0.17) ** 2) / (2 * 0.02**2)
    )
    flashes = np.zeros(n_times)
    np.add.at(flashes, onsets, rng.lognormal(0, 0.25, len(onsets)))

    target_onsets = onsets[is_target]
    jitter = np.round(rng.normal(0, 0.03, len(target_onsets)) * sfreq).astype(np.int64)
    p300_impulses = np.zeros(n_times)
    np.add.at(
        p300_impulses,
        np.clip(target_onsets + jitter, 0, n_times - 1),
        traits.p300_amplitude * rng.lognormal(0, 0.35, len(target_onsets)),
    )
    p300_kernel = np.exp(-((t - traits.p300_latency) ** 2) / (2 * traits.p300_width**2))
    courses = np.stack(
        [
            signal.oaconvolve(flashes, visual_kernel)[:n_times],
            signal.oaconvolve(p300_impulses, p300_kernel)[:n_times],
        ]
    )
    topographies = np.stack(
        [_topography(positions, (0.0, -0.9), 0.45), _topography(positions, (0.0, -0.35), 0.6)],
        axis=1,
    )
    return topographies, courses


def _event_times(
    rng: np.random.Generator, rate_hz: float, n_times: int, sfreq: float
) -> np.ndarray:
    """Onset samples of a Poisson process with ``rate_hz`` events per second."""
    n_events = rng.poisson(rate_hz * n_times / sfreq)
    return np.sort(rng.integers(0, n_times, n_events))


def _blinks(
    rng: np.random.Generator, positions: np.ndarray, n_times: int, sfreq: float, rate_hz: float
) -> tuple[np.ndarray, np.ndarray]:
    """Eye blinks: 0.3 s bumps of 100–300 µV at Fp1/Fp2, fading towards the back."""
    width = int(0.3 * sfreq)
    blink_kernel = np.sin(np.pi * np.arange(width) / width) ** 2
    impulses = np.zeros(n_times)
    starts = _event_times(rng, rate_hz, n_times, sfreq)
    np.add.at(impulses, starts, rng.uniform(100.0, 300.0, len(starts)))
    course = signal.oaconvolve(impulses, blink_kernel)[np.newaxis, :n_times]
    eyes = np.maximum(
        _topography(positions, (-0.3, 1.0), 0.45), _topography(positions, (0.3, 1.0), 0.45)
    )
    return eyes[:, np.newaxis], course


def _muscle(
    rng: np.random.Generator, positions: np.ndarray, n_times: int, sfreq: float
) -> tuple[np.ndarray, np.ndarray]:
    """Bursts of 20–100 Hz activity (20–40 µV RMS, 0.5–2 s) at left or right temporal sites."""
    top = min(100.0, 0.9 * sfreq / 2)
    emg = _shaped_noise(rng, 2, n_times, sfreq, lambda f: (f > 20) * (f < top) * 1.0)
    envelope = np.zeros((2, n_times), dtype=np.float32)
    for start in _event_times(rng, 0.03, n_times, sfreq):
        side = rng.integers(2)
        length = int(rng.uniform(0.5, 2.0) * sfreq)
        envelope[side, start : start + length] = rng.uniform(20.0, 40.0)
    sides = np.stack(
        [_topography(positions, (-1.0, 0.0), 0.4), _topography(positions, (1.0, 0.0), 0.4)], axis=1
    )
    return sides, envelope * emg


def _drift_and_line(
    rng: np.random.Generator, n_channels: int, n_times: int, sfreq: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel slow drift (tens of µV over minutes) and 1–5 µV of 50 Hz line noise."""
    seconds = np.arange(n_times) / sfreq
    freqs = list(rng.uniform(0.002, 0.05, 3))
    amplitudes = [rng.uniform(5.0, 30.0, n_channels) for _ in freqs]
    if sfreq / 2 > LINE_FREQ_HZ:
        freqs.append(LINE_FREQ_HZ)
        amplitudes.append(rng.uniform(1.0, 5.0, n_channels))
    return _sinusoids(rng, seconds, np.array(freqs), np.stack(amplitudes, axis=1))


def _sinusoids(
    rng: np.random.Generator, seconds: np.ndarray, freqs: np.ndarray, amplitudes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per channel, sines at shared ``freqs`` (Hz) with own amplitudes (µV) and random phases.

    ``amplitudes`` has shape (n_channels, n_freqs). As a·sin(ωt + φ) = a·cos φ·sin ωt +
    a·sin φ·cos ωt, the result is weights (n_channels, 2·n_freqs) times carriers
    (2·n_freqs, n_times).
    """
    phases = rng.uniform(0, 2 * np.pi, amplitudes.shape)
    weights = np.concatenate([amplitudes * np.cos(phases), amplitudes * np.sin(phases)], axis=1)
    angles = 2 * np.pi * freqs[:, np.newaxis] * seconds
    return weights, np.concatenate([np.sin(angles), np.cos(angles)])


def _spoil(rng: np.random.Generator, channel: np.ndarray, sfreq: float) -> np.ndarray:
    """A bad electrode: nearly flat, or noisy with strong line noise (loose contact)."""
    if rng.random() < 0.3:
        return 0.05 * channel
    seconds = np.arange(len(channel)) / sfreq
    line = 60.0 * np.sin(2 * np.pi * LINE_FREQ_HZ * seconds) if sfreq / 2 > LINE_FREQ_HZ else 0.0
    return channel + 25.0 * rng.standard_normal(len(channel)) + line
