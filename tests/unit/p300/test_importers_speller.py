"""What importers share: the flash channels and the speller read back from the metadata."""

import json

import numpy as np
import pytest

from p300.importers import ImportedRecording, group_cells, spelled_text, target_cells
from p300.importers.imported import flash_channels
from p300.types import RawRecording

N_TIMES = 100


def test_flash_channels_put_codes_and_groups_at_the_onsets():
    is_target = np.array([False, True, False])
    stim, stim_item = flash_channels(N_TIMES, np.array([5, 20, 40]), is_target, np.array([3, 0, 7]))

    assert stim.dtype == np.int8 and stim_item.dtype == np.int32
    np.testing.assert_array_equal(np.flatnonzero(stim), [5, 20, 40])
    np.testing.assert_array_equal(stim[[5, 20, 40]], [1, 2, 1])
    np.testing.assert_array_equal(stim_item[[5, 20, 40]], [3, 0, 7])
    assert (stim_item == -1).sum() == N_TIMES - 3
    assert flash_channels(N_TIMES, np.array([5]), np.array([True]))[1] is None


def test_two_flashes_on_one_sample_are_refused():
    with pytest.raises(ValueError, match="two flashes share onset sample 20"):
        flash_channels(N_TIMES, np.array([5, 20, 20]), np.zeros(3, bool))


def test_group_cells_number_rows_first_then_columns():
    cells = group_cells(2, 3)  # A B C / D E F

    assert cells == {
        0: frozenset({0, 1, 2}),
        1: frozenset({3, 4, 5}),
        2: frozenset({0, 3}),
        3: frozenset({1, 4}),
        4: frozenset({2, 5}),
    }


def speller(targets_by_character, *, metadata_drop=()):
    """A 2×3 speller ("ABC/DEF"): per character, every group flashes once; targets as given."""
    onsets, items, is_target = [], [], []
    for character, targets in enumerate(targets_by_character):
        for group in range(5):
            onsets.append(10 + 20 * (5 * character + group))
            items.append(group)
            is_target.append(group in targets)
    stim, stim_item = flash_channels(
        onsets[-1] + 10, np.array(onsets), np.array(is_target), np.array(items)
    )
    recording = RawRecording(np.zeros((1, stim.size)), ("Cz",), 256.0, stim, stim_item)
    metadata = {
        "matrix_rows": "2",
        "matrix_columns": "3",
        "matrix_symbols": json.dumps(list("ABCDEF")),
        "character_starts": json.dumps(onsets[::5]),
    }
    return ImportedRecording(
        recording, {k: v for k, v in metadata.items() if k not in metadata_drop}
    )


def test_target_groups_give_each_characters_cell_and_symbol():
    imported = speller([{1, 2}, {0, 4}, {1, 4}])  # row 1 column 0, row 0 column 2, row 1 column 2

    assert target_cells(imported) == [3, 2, 5]
    assert spelled_text(imported) == "DCF"
    np.testing.assert_array_equal(imported.flash_characters(), np.repeat([0, 1, 2], 5))


@pytest.mark.parametrize(
    ("targets", "drop", "message"),
    [
        ([{0, 1}], (), r"character 0: its target flashes show groups \[0, 1\]; expected one row "
         r"\(0..1\) and one column \(2..4\)"),
        ([{2}], (), r"character 0: its target flashes show groups \[2\]"),
        ([{0, 2}], ("character_starts",), r"metadata lacks \['character_starts'\], needed here"),
        ([{0, 2}], ("matrix_symbols",), r"metadata lacks \['matrix_symbols'\]"),
    ],
)  # fmt: skip
def test_a_speller_that_cannot_be_read_back_says_why(targets, drop, message):
    with pytest.raises(ValueError, match=message):
        spelled_text(speller(targets, metadata_drop=drop))
