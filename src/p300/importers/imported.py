"""What every importer returns: the recording in our contract and what its file says about it.

The metadata is text, ready for the landing Parquet's schema metadata
(``raw_io.recording_to_parquet_bytes(recording, extra_metadata=metadata)``). Its keys:

- ``source_format``: ``bci2000-dat``, ``openvibe-gdf`` or ``bids``; ``source_file``: file name.
- ``stim_item_coding``: what ``stim_item`` numbers mean, in words.
- ``n_groups``: how many row/column groups (distinct ``stim_item`` values) flashed.
- ``matrix_rows``, ``matrix_columns``: the speller matrix, when known. Then ``stim_item`` 0 to
  rows - 1 are the rows (top to bottom) and rows to rows + columns - 1 the columns (left to right).
- ``matrix_symbols``: JSON list of the matrix's symbols, row by row, when the file names them.
- ``text_to_spell``: the text the subject was asked to spell (copy spelling), when known.
- ``sequences_per_character``: repetitions of every group per character, when known.
- ``character_starts``: JSON list of the onset sample of each character's first flash, when the
  file marks characters; `ImportedRecording.flash_characters` turns it into one index per flash.

Importers add their own keys (``unpaired_*``, ``bids_*``); each importer's docstring lists them.
"""

import json
from dataclasses import dataclass

import numpy as np

from p300.types import STIM_NONTARGET, STIM_TARGET, RawRecording

SOURCE_FORMAT, SOURCE_FILE = "source_format", "source_file"
STIM_ITEM_CODING, N_GROUPS = "stim_item_coding", "n_groups"
MATRIX_ROWS, MATRIX_COLUMNS, MATRIX_SYMBOLS = "matrix_rows", "matrix_columns", "matrix_symbols"
TEXT_TO_SPELL, SEQUENCES_PER_CHARACTER = "text_to_spell", "sequences_per_character"
CHARACTER_STARTS = "character_starts"


@dataclass(frozen=True)
class ImportedRecording:
    """An imported recording and its metadata.

    Attributes
    ----------
    recording : RawRecording
        ``data`` (n_channels, n_times) in µV, ``stim`` and (when the events say) ``stim_item``.
    metadata : dict of str to str
        See the module docstring.
    """

    recording: RawRecording
    metadata: dict[str, str]

    def character_starts(self) -> np.ndarray | None:
        """Onset sample of each character's first flash, shape (n_characters,); None if unknown."""
        text = self.metadata.get(CHARACTER_STARTS)
        return None if text is None else np.asarray(json.loads(text), dtype=np.int64)

    def flash_characters(self) -> np.ndarray | None:
        """The character each flash belongs to, shape (n_flashes,) in onset order; None if unknown.

        Characters are numbered from 0 in time order; a flash before the first character is -1.
        """
        starts = self.character_starts()
        if starts is None:
            return None
        return np.searchsorted(starts, self.recording.onsets, side="right") - 1


def flash_channels(
    n_times: int, onsets: np.ndarray, is_target: np.ndarray, items: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """The ``stim`` and ``stim_item`` channels for flashes at ``onsets``.

    Parameters
    ----------
    n_times : int
    onsets : ndarray of int, shape (n_flashes,)
        Onset samples, each at most once.
    is_target : ndarray of bool, shape (n_flashes,)
    items : ndarray of int, shape (n_flashes,), optional
        Row/column group (>= 0) of each flash.

    Returns
    -------
    stim : ndarray, shape (n_times,), int8
        1 non-target, 2 target at the onsets, 0 elsewhere.
    stim_item : ndarray, shape (n_times,), int32, or None
        The group at the onsets, -1 elsewhere; None without ``items``.
    """
    onsets = np.asarray(onsets, dtype=np.int64)
    shared, counts = np.unique(onsets, return_counts=True)
    if (counts > 1).any():
        raise ValueError(
            f"two flashes share onset sample {int(shared[counts > 1][0])}; the contract holds one "
            "flash per sample"
        )
    stim = np.zeros(n_times, np.int8)
    stim[onsets] = np.where(is_target, STIM_TARGET, STIM_NONTARGET)
    if items is None:
        return stim, None
    stim_item = np.full(n_times, -1, np.int32)
    stim_item[onsets] = items
    return stim, stim_item


def character_starts_text(starts: np.ndarray) -> str:
    """``character_starts`` metadata: the onset samples as a JSON list."""
    return json.dumps([int(sample) for sample in starts])
