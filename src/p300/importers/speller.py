"""The row/column speller behind an imported recording: which cells a group shows, what was spelled.

Cells are numbered row by row from 0 (cell ``row * n_columns + column``). Groups (``stim_item``)
number the rows first: 0 to n_rows - 1 are rows, n_rows to n_rows + n_columns - 1 columns.
"""

import json

import numpy as np

from p300.importers import imported as keys
from p300.importers.imported import ImportedRecording
from p300.types import STIM_TARGET


def group_cells(n_rows: int, n_columns: int) -> dict[int, frozenset[int]]:
    """The cells each row/column group shows: ``{stim_item: frozenset of cells}``."""
    rows = {row: frozenset(range(row * n_columns, (row + 1) * n_columns)) for row in range(n_rows)}
    columns = {
        n_rows + column: frozenset(range(column, n_rows * n_columns, n_columns))
        for column in range(n_columns)
    }
    return rows | columns


def target_cells(imported: ImportedRecording) -> list[int]:
    """The cell each character's target flashes show, one per character in time order.

    Raises
    ------
    ValueError
        When the metadata lacks the matrix size or the character starts, the recording has no
        ``stim_item``, or a character's target flashes are not one row and one column.
    """
    metadata, recording = imported.metadata, imported.recording
    _require(metadata, (keys.MATRIX_ROWS, keys.MATRIX_COLUMNS, keys.CHARACTER_STARTS))
    if recording.stim_item is None:
        raise ValueError("the recording has no stim_item: its flashes' groups are unknown")
    n_rows, n_columns = int(metadata[keys.MATRIX_ROWS]), int(metadata[keys.MATRIX_COLUMNS])
    onsets = recording.onsets
    targets = recording.stim[onsets] == STIM_TARGET
    characters = imported.flash_characters()
    cells = []
    for character in range(imported.character_starts().size):
        groups = np.unique(recording.stim_item[onsets[targets & (characters == character)]])
        rows, columns = groups[groups < n_rows], groups[groups >= n_rows] - n_rows
        if rows.size != 1 or columns.size != 1:
            raise ValueError(
                f"character {character}: its target flashes show groups {groups.tolist()}; "
                f"expected one row (0..{n_rows - 1}) and one column "
                f"({n_rows}..{n_rows + n_columns - 1})"
            )
        cells.append(int(rows[0]) * n_columns + int(columns[0]))
    return cells


def spelled_text(imported: ImportedRecording) -> str:
    """The symbols the target flashes point to, one per character (the truth of copy spelling)."""
    _require(imported.metadata, (keys.MATRIX_SYMBOLS,))
    symbols = json.loads(imported.metadata[keys.MATRIX_SYMBOLS])
    return "".join(symbols[cell] for cell in target_cells(imported))


def _require(metadata: dict[str, str], needed: tuple[str, ...]) -> None:
    missing = [key for key in needed if key not in metadata]
    if missing:
        raise ValueError(
            f"the recording's metadata lacks {missing}, needed here; it has {sorted(metadata)}"
        )
