"""Import recordings in the formats MNE reads (EDF/BDF, BrainVision, FIF, EEGLAB, ...).

Events come from annotations, named by their description (BrainVision markers read as e.g.
``"Stimulus/S  1"`` or ``"Comment/target"``), and from stim channels, named by their event id as
text (``"33285"``). An event map sends event names to our stim codes (1 non-target, 2 target);
events it does not name are ignored. `list_events` shows what a file holds.
"""

import os
from collections.abc import Sequence

import mne
import numpy as np

from p300.types import STIM_NONTARGET, STIM_TARGET, RawRecording

#: Used when neither ``event_map`` nor ``target_events``/``nontarget_events`` is given.
DEFAULT_EVENT_MAP = {"target": STIM_TARGET, "nontarget": STIM_NONTARGET}


def import_recording(
    path: str | os.PathLike,
    *,
    event_map: dict[str, int] | None = None,
    target_events: Sequence[str] | None = None,
    nontarget_events: Sequence[str] | None = None,
    channels: Sequence[str] | None = None,
    subject: str | None = None,
    session: str | None = None,
) -> RawRecording:
    """Read a recording with ``mne.io.read_raw`` and convert it to the raw contract.

    Parameters
    ----------
    path : path-like
        Any file ``mne.io.read_raw`` reads (.edf, .bdf, .vhdr, .fif, .set, ...).
    event_map : dict of str to int, optional
        Event name → stim code (1 non-target, 2 target). Mutually exclusive with
        ``target_events``/``nontarget_events``. Default `DEFAULT_EVENT_MAP`.
    target_events, nontarget_events : sequence of str, optional
        Event names of target and non-target flashes; give both.
    channels : sequence of str, optional
        Channels to keep, in this order; default every EEG channel.
    subject, session : str, optional
        Stored in the recording.

    Returns
    -------
    RawRecording
        ``data`` shape (n_channels, n_times) in µV (float64), ``stim`` with one sample per mapped
        event, ``stim_item`` None.

    Raises
    ------
    ValueError
        When the mapping names events the file lacks (the message lists the events present), maps
        to codes other than 1 and 2, two mapped events with different codes share a sample, or the
        channels are missing.
    """
    mapping = event_mapping(event_map, target_events, nontarget_events)
    raw = mne.io.read_raw(path, preload=True, verbose="error")
    events = events_by_name(raw)
    missing = sorted(set(mapping) - set(events))
    if missing:
        present = {name: len(samples) for name, samples in sorted(events.items())}
        raise ValueError(
            f"event_map names events not in {os.fspath(path)!r}: {missing}; "
            f"events present (name: count): {present or 'none'}"
        )
    stim = _stim_channel(events, mapping, raw.n_times)
    return recording_from_raw(raw, channels, stim, subject=subject, session=session)


def recording_from_raw(
    raw: mne.io.BaseRaw,
    channels: Sequence[str] | None,
    stim: np.ndarray,
    stim_item: np.ndarray | None = None,
    *,
    subject: str | None,
    session: str | None,
) -> RawRecording:
    """The raw contract from an MNE recording's ``channels`` (see `channel_picks`) in µV."""
    picks = channel_picks(raw, channels)
    return RawRecording(
        data=raw.get_data(picks=picks, units="uV").astype(np.float64),
        ch_names=tuple(picks),
        sfreq=float(raw.info["sfreq"]),
        stim=stim,
        stim_item=stim_item,
        subject=subject,
        session=session,
    )


def list_events(path: str | os.PathLike) -> dict[str, int]:
    """Every event name in a recording (see the module docstring) with its number of occurrences."""
    raw = mne.io.read_raw(path, preload=False, verbose="error")
    return {name: len(samples) for name, samples in sorted(events_by_name(raw).items())}


def event_mapping(
    event_map: dict[str, int] | None,
    target_events: Sequence[str] | None,
    nontarget_events: Sequence[str] | None,
) -> dict[str, int]:
    """The event map (event name → 1 or 2) the options describe, checked."""
    by_class = target_events is not None or nontarget_events is not None
    if event_map is not None and by_class:
        raise ValueError("give either event_map or target_events/nontarget_events, not both")
    if by_class:
        if target_events is None or nontarget_events is None:
            raise ValueError(
                f"target_events and nontarget_events go together, got "
                f"target_events={target_events!r}, nontarget_events={nontarget_events!r}"
            )
        event_map = {name: STIM_NONTARGET for name in nontarget_events}
        event_map |= {name: STIM_TARGET for name in target_events}
    mapping = DEFAULT_EVENT_MAP if event_map is None else dict(event_map)
    bad = {
        name: code for name, code in mapping.items() if code not in (STIM_NONTARGET, STIM_TARGET)
    }
    if bad or not mapping:
        raise ValueError(
            f"event_map must map event names to {STIM_NONTARGET} (non-target) or "
            f"{STIM_TARGET} (target), got {mapping}"
        )
    return mapping


def events_by_name(raw: mne.io.BaseRaw) -> dict[str, np.ndarray]:
    """Onset samples (relative to the first data sample) of every annotation and stim event."""
    events: dict[str, list[np.ndarray]] = {}
    descriptions = sorted(set(raw.annotations.description))
    if descriptions:
        ids = {description: i + 1 for i, description in enumerate(descriptions)}
        found, _ = mne.events_from_annotations(raw, event_id=ids, regexp=None, verbose="error")
        for description, event_id in ids.items():
            events.setdefault(description, []).append(found[found[:, 2] == event_id, 0])
    stim_channels = [raw.ch_names[i] for i in mne.pick_types(raw.info, stim=True)]
    if stim_channels:
        found = mne.find_events(
            raw, stim_channel=stim_channels, shortest_event=1, consecutive=True, verbose="error"
        )
        for event_id in np.unique(found[:, 2]):
            events.setdefault(str(event_id), []).append(found[found[:, 2] == event_id, 0])
    onsets = {name: np.concatenate(parts) - raw.first_samp for name, parts in events.items()}
    return {
        name: samples[(samples >= 0) & (samples < raw.n_times)] for name, samples in onsets.items()
    }


def _stim_channel(events: dict[str, np.ndarray], mapping: dict[str, int], n_times: int):
    """The stim codes, shape (n_times,) int8, with each mapped event's code at its onset sample."""
    stim = np.zeros(n_times, np.int8)
    for name, code in mapping.items():
        samples = events[name]
        clashing = samples[(stim[samples] != 0) & (stim[samples] != code)]
        if clashing.size:
            raise ValueError(
                f"event {name!r} (code {code}) falls on {clashing.size} samples already holding "
                f"another code, first at sample {int(clashing[0])}"
            )
        stim[samples] = code
    return stim


def channel_picks(raw: mne.io.BaseRaw, channels: Sequence[str] | None) -> list[str]:
    """Names of ``channels`` (checked to exist), or of every EEG channel when None."""
    if channels is None:
        picks = [raw.ch_names[i] for i in mne.pick_types(raw.info, eeg=True)]
        if not picks:
            raise ValueError(
                f"recording has no EEG channel; channel types are {raw.get_channel_types()}; "
                "pass channels=[...] to choose some"
            )
        return picks
    missing = [name for name in channels if name not in raw.ch_names]
    if missing:
        raise ValueError(f"channels {missing} not in the recording; it has {raw.ch_names}")
    return list(channels)
