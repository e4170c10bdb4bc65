"""Import an OpenViBE P300 speller recording saved as GDF (read by ``mne.io.read_raw_gdf``).

OpenViBE stores its stimulation codes in the GDF event table; MNE names each event by its code.

- 33025 + k (``OVTK_StimulationId_Label_01`` + k): row/column group k flashed. ``stim_item`` is k,
  so the first group (Label_01) is 0, as ``StimulusCode - 1`` is for BCI2000.
- 33285 / 33286 (``OVTK_StimulationId_Target`` / ``NonTarget``): that flash held the target or not.
- 32773 (``TrialStart``): a character begins. 32779 / 32780 (``VisualStimulationStart`` /
  ``Stop``) are not used.

A flash is a group code paired with a target/non-target code at most ``max_pair_gap`` samples
away (they arrive at the same or the next sample); the pair's onset is the group code's sample.
In ``data_sample_8ch.gdf`` 32779 follows each group code by 15 to 17 samples; the first flash of
each character evokes its visual response about 95 to 120 ms after the group code, the usual P1
latency, whereas counted from 32779 it would come an implausible 35 to 60 ms after the flash. A
group code repeated at the same sample with the same flag is counted once.

Matrix size: OpenViBE's stimulator numbers the rows first and flashes a column, then a row, and
so on. When the flashes of every character alternate between the groups below some k and the
groups from k on, the matrix has k rows (the lower groups) and n_groups - k columns; else give
``n_rows`` and ``n_columns``. The file does not name the matrix's symbols.

Metadata beyond the common keys (`p300.importers.imported`): ``duplicate_events`` (repeated
events dropped), ``unpaired_group_events`` and ``unpaired_target_events`` (JSON lists of the
samples of codes left without a partner).
"""

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass

import mne
import numpy as np

from p300.importers import imported as keys
from p300.importers.imported import ImportedRecording, character_starts_text, flash_channels
from p300.importers.mne_formats import events_by_name, recording_from_raw

#: ``OVTK_StimulationId_Label_01`` … ``Label_1F``: the row/column groups.
GROUP_CODES = range(33025, 33056)
TARGET_CODE, NONTARGET_CODE, TRIAL_START_CODE = 33285, 33286, 32773


def import_openvibe_gdf(
    path: str | os.PathLike,
    *,
    n_rows: int | None = None,
    n_columns: int | None = None,
    max_pair_gap: int = 2,
    channels: Sequence[str] | None = None,
    subject: str | None = None,
    session: str | None = None,
) -> ImportedRecording:
    """Read an OpenViBE P300 GDF recording into the raw contract.

    Parameters
    ----------
    path : path-like
        A ``.gdf`` file written by OpenViBE.
    n_rows, n_columns : int, optional
        The speller matrix; give both, or neither to derive it (see the module docstring).
    max_pair_gap : int
        Most samples between a group code and its target/non-target code.
    channels : sequence of str, optional
        Channels to keep, in this order; default every EEG channel.
    subject, session : str, optional
        Stored in the recording.

    Returns
    -------
    ImportedRecording
        ``data`` shape (n_channels, n_times) in µV; ``stim`` and ``stim_item`` at the paired
        flashes (``stim_item`` None when the file has target codes but no group codes).

    Raises
    ------
    ValueError
        When the file is not a readable GDF file, holds no target/non-target code, no group code
        pairs with one, or ``n_rows``/``n_columns`` do not fit the groups.
    """
    name = os.path.basename(os.fspath(path))
    if (n_rows is None) != (n_columns is None):
        raise ValueError(
            f"n_rows and n_columns go together, got n_rows={n_rows!r}, n_columns={n_columns!r}"
        )
    if isinstance(max_pair_gap, bool) or not isinstance(max_pair_gap, int) or max_pair_gap < 0:
        raise ValueError(
            f"max_pair_gap must be a whole number of samples >= 0, got {max_pair_gap!r}"
        )
    raw = _read_gdf(path)
    source = f"GDF file {name!r}"
    flashes = flashes_from_codes(_coded_events(raw), max_pair_gap=max_pair_gap, source=source)
    stim, stim_item = flash_channels(raw.n_times, flashes.onsets, flashes.is_target, flashes.items)
    recording = recording_from_raw(raw, channels, stim, stim_item, subject=subject, session=session)
    metadata = {
        keys.SOURCE_FORMAT: "openvibe-gdf",
        keys.SOURCE_FILE: name,
        "duplicate_events": str(flashes.n_duplicates),
    }
    starts = flashes.character_starts
    if starts.size:
        metadata[keys.CHARACTER_STARTS] = character_starts_text(starts)
    if flashes.items is not None:
        metadata["unpaired_group_events"] = json.dumps(flashes.unpaired_groups.tolist())
        metadata["unpaired_target_events"] = json.dumps(flashes.unpaired_flags.tolist())
        characters = np.searchsorted(starts, flashes.onsets, side="right") - 1
        metadata |= _groups_metadata(flashes.items, characters, n_rows, n_columns)
    return ImportedRecording(recording, metadata)


@dataclass(frozen=True)
class CodedFlashes:
    """The flashes an OpenViBE event list describes.

    Attributes
    ----------
    onsets : ndarray of int, shape (n_flashes,)
        Onset samples, increasing.
    is_target : ndarray of bool, shape (n_flashes,)
    items : ndarray of int, shape (n_flashes,), or None
        Row/column group of each flash; None when the events have no group code.
    unpaired_groups, unpaired_flags : ndarray of int
        Samples of the group codes and target/non-target codes left without a partner.
    n_duplicates : int
        Events dropped because the same code was already at that sample.
    character_starts : ndarray of int, shape (n_characters,)
        Onset of the first flash at or after each ``TrialStart``.
    """

    onsets: np.ndarray
    is_target: np.ndarray
    items: np.ndarray | None
    unpaired_groups: np.ndarray
    unpaired_flags: np.ndarray
    n_duplicates: int
    character_starts: np.ndarray


def flashes_from_codes(coded: np.ndarray, *, max_pair_gap: int, source: str) -> CodedFlashes:
    """Pair the group codes with the target/non-target codes (see the module docstring).

    Parameters
    ----------
    coded : ndarray of int, shape (n_events, 2)
        Sample and OpenViBE code of every event, in any order.
    max_pair_gap : int
        Most samples between a group code and its target/non-target code.
    source : str
        Named in error messages.

    Raises
    ------
    ValueError
        When there is no target/non-target code, or group codes of which none pairs.
    """
    events = np.unique(coded, axis=0)  # sorted by sample; the same code twice at a sample is one
    groups = events[np.isin(events[:, 1], GROUP_CODES)]
    flags = events[np.isin(events[:, 1], (TARGET_CODE, NONTARGET_CODE))]
    if flags.size == 0:
        codes, counts = np.unique(coded[:, 1], return_counts=True)
        present = {str(code): int(count) for code, count in zip(codes, counts, strict=True)}
        raise ValueError(
            f"{source} holds no target ({TARGET_CODE}) or non-target ({NONTARGET_CODE}) code; "
            f"codes present (code: count): {present or 'none'}"
        )
    paired_groups, paired_flags = pair_events(groups[:, 0], flags[:, 0], max_gap=max_pair_gap)
    if groups.size and paired_groups.size == 0:
        raise ValueError(
            f"{source}: no row/column code has a target/non-target code within "
            f"max_pair_gap={max_pair_gap} samples"
        )
    if groups.size == 0:  # an oddball without groups: every target/non-target code is a flash
        paired_flags = np.arange(len(flags))
    onsets = flags[paired_flags, 0] if groups.size == 0 else groups[paired_groups, 0]
    trial_starts = events[events[:, 1] == TRIAL_START_CODE, 0]
    return CodedFlashes(
        onsets=onsets,
        is_target=flags[paired_flags, 1] == TARGET_CODE,
        items=groups[paired_groups, 1] - GROUP_CODES.start if groups.size else None,
        unpaired_groups=np.delete(groups[:, 0], paired_groups),
        unpaired_flags=np.delete(flags[:, 0], paired_flags),
        n_duplicates=len(coded) - len(events),
        character_starts=_character_starts(trial_starts, onsets),
    )


def pair_events(
    first: np.ndarray, second: np.ndarray, *, max_gap: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pair two sorted lists of event samples, each event at most once, in time order.

    Parameters
    ----------
    first, second : ndarray of int, shape (n_first,) and (n_second,)
        Event samples, sorted.
    max_gap : int
        Most samples between the two events of a pair (either may come first).

    Returns
    -------
    ndarray, ndarray
        Indices into ``first`` and into ``second`` of the pairs, shape (n_pairs,) each.
    """
    i = j = 0
    pairs_first, pairs_second = [], []
    while i < len(first) and j < len(second):
        gap = int(second[j]) - int(first[i])
        if abs(gap) <= max_gap:
            pairs_first.append(i)
            pairs_second.append(j)
            i, j = i + 1, j + 1
        elif gap < 0:
            j += 1
        else:
            i += 1
    return np.asarray(pairs_first, dtype=np.int64), np.asarray(pairs_second, dtype=np.int64)


def matrix_split(items: np.ndarray, characters: np.ndarray) -> int | None:
    """The number of row groups, if consecutive flashes alternate between rows and columns.

    Parameters
    ----------
    items : ndarray of int, shape (n_flashes,)
        Group of each flash, in time order.
    characters : ndarray of int, shape (n_flashes,)
        Character of each flash; alternation is only required within a character.

    Returns
    -------
    int or None
        The one k such that every two consecutive flashes of a character fall on either side of
        k; None when no k, or more than one, does.
    """
    same = characters[1:] == characters[:-1]
    before, after = items[:-1][same], items[1:][same]
    splits = [k for k in range(1, int(items.max()) + 1) if np.all((before < k) != (after < k))]
    return splits[0] if len(splits) == 1 and before.size else None


def _groups_metadata(items, characters, n_rows, n_columns) -> dict[str, str]:
    n_groups = int(items.max()) + 1
    metadata = {
        keys.N_GROUPS: str(n_groups),
        keys.STIM_ITEM_CODING: f"OpenViBE code - {GROUP_CODES.start} (Label_01 is 0)",
    }
    if n_rows is None:
        n_rows = matrix_split(items, characters)
        if n_rows is None:
            return metadata
        n_columns = n_groups - n_rows
    if n_rows < 1 or n_columns < 1 or n_rows + n_columns != n_groups:
        raise ValueError(
            f"n_rows + n_columns must equal the {n_groups} groups that flashed (both >= 1), got "
            f"n_rows={n_rows}, n_columns={n_columns}"
        )
    metadata[keys.STIM_ITEM_CODING] += f": 0..{n_rows - 1} rows, {n_rows}..{n_groups - 1} columns"
    return metadata | {keys.MATRIX_ROWS: str(n_rows), keys.MATRIX_COLUMNS: str(n_columns)}


def _read_gdf(path) -> mne.io.BaseRaw:
    name = os.fspath(path)
    with open(path, "rb") as file:
        magic = file.read(8)
    if not magic.startswith(b"GDF "):
        raise ValueError(f"{name!r} is not a GDF file: it starts with {magic!r}, not b'GDF '")
    try:
        return mne.io.read_raw_gdf(path, preload=True, verbose="error")
    # MNE fails on a damaged GDF file in many ways (IndexError on a truncated one).
    except Exception as exc:
        raise ValueError(
            f"cannot read GDF file {name!r} ({os.path.getsize(path)} bytes), truncated or "
            f"damaged? {type(exc).__name__}: {exc}"
        ) from exc


def _coded_events(raw: mne.io.BaseRaw) -> np.ndarray:
    """Every event named by a numeric code, shape (n_events, 2): sample, code; in any order."""
    rows = [
        np.column_stack([samples, np.full(samples.size, int(name))])
        for name, samples in events_by_name(raw).items()
        if name.isdigit()
    ]
    return np.concatenate(rows).astype(np.int64) if rows else np.zeros((0, 2), np.int64)


def _character_starts(trial_starts: np.ndarray, onsets: np.ndarray) -> np.ndarray:
    """Onset of the first flash (``onsets`` increasing) at or after each trial start."""
    firsts = np.unique(np.searchsorted(onsets, trial_starts))
    return onsets[firsts[firsts < onsets.size]]
