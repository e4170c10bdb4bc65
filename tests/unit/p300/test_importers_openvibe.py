"""OpenViBE GDF: pairing of stimulation codes, the matrix split, and the real speller file."""

import json

import mne
import numpy as np
import pytest

from p300.contract import check_recording
from p300.importers import import_openvibe_gdf, target_cells
from p300.importers.openvibe import flashes_from_codes, matrix_split, pair_events
from tests.real_data import assert_p300, real_file

GDF = "p3k_mit/data_sample_8ch.gdf"
ROW_3, COLUMN_1, TARGET, NONTARGET, TRIAL_START, FLASH_ON = 33028, 33032, 33285, 33286, 32773, 32779


@pytest.mark.parametrize(
    ("first", "second", "pairs"),
    [
        ([10, 58, 106], [10, 59, 106], ([0, 1, 2], [0, 1, 2])),  # same or next sample
        ([10], [9], ([0], [0])),  # the flag may come first
        ([10, 58, 106], [10, 106], ([0, 2], [0, 1])),  # a group code without flag
        ([10], [3, 10], ([0], [1])),  # a flag without group code
        ([10], [13], ([], [])),  # too far apart
        ([], [5], ([], [])),
    ],
)
def test_events_pair_within_the_gap_each_at_most_once(first, second, pairs):
    found = pair_events(np.array(first, int), np.array(second, int), max_gap=2)

    np.testing.assert_array_equal(found[0], pairs[0])
    np.testing.assert_array_equal(found[1], pairs[1])


def test_codes_become_flashes_at_the_group_code_with_duplicates_and_strays_reported():
    coded = np.array(
        [
            [100, TRIAL_START], [100, ROW_3], [100, NONTARGET], [116, FLASH_ON],
            [148, COLUMN_1], [149, TARGET], [148, COLUMN_1], [149, TARGET],  # sent twice
            [196, ROW_3],  # its flag is missing
            [300, NONTARGET],  # a flag without group code
            [400, TRIAL_START], [410, COLUMN_1], [410, TARGET],
        ]
    )  # fmt: skip

    flashes = flashes_from_codes(coded, max_pair_gap=2, source="test")

    np.testing.assert_array_equal(flashes.onsets, [100, 148, 410])
    np.testing.assert_array_equal(flashes.items, [3, 7, 7])
    np.testing.assert_array_equal(flashes.is_target, [False, True, True])
    np.testing.assert_array_equal(flashes.unpaired_groups, [196])
    np.testing.assert_array_equal(flashes.unpaired_flags, [300])
    np.testing.assert_array_equal(flashes.character_starts, [100, 410])
    assert flashes.n_duplicates == 2


def test_target_codes_alone_are_flashes_without_groups():
    coded = np.array([[50, NONTARGET], [100, TARGET], [150, NONTARGET]])

    flashes = flashes_from_codes(coded, max_pair_gap=2, source="test")

    np.testing.assert_array_equal(flashes.onsets, [50, 100, 150])
    np.testing.assert_array_equal(flashes.is_target, [False, True, False])
    assert flashes.items is None


@pytest.mark.parametrize(
    ("coded", "message"),
    [
        (
            [[10, ROW_3], [20, FLASH_ON]],
            r"test holds no target \(33285\) or non-target \(33286\) "
            r"code; codes present \(code: count\): \{'32779': 1, '33028': 1\}",
        ),
        (
            [[10, ROW_3], [20, TARGET]],
            r"test: no row/column code has a target/non-target code "
            r"within max_pair_gap=2 samples",
        ),
    ],
)
def test_codes_without_flashes_are_refused(coded, message):
    with pytest.raises(ValueError, match=message):
        flashes_from_codes(np.array(coded), max_pair_gap=2, source="test")


@pytest.mark.parametrize(
    ("items", "characters", "split"),
    [
        ([3, 0, 2, 1], [0] * 4, 2),  # columns 2..3 and rows 0..1 take turns
        ([3, 0, 2, 1, 1, 3], [0, 0, 0, 0, 1, 1], 2),  # row after row across characters
        ([3, 0, 2, 1, 1, 3], [0] * 6, None),  # ... within a character: no split
        ([0, 1, 2, 3], [0] * 4, None),
        ([2, 0, 3], [0] * 3, None),  # group 1 never flashed: 1 and 2 both fit
    ],
)
def test_the_matrix_split_is_where_flashes_alternate(items, characters, split):
    assert matrix_split(np.array(items), np.array(characters)) == split


# --- the real speller recording -----------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_8ch():
    return import_openvibe_gdf(real_file(GDF), subject="ov", session="1")


def test_real_file_channels_rate_and_contract(sample_8ch):
    recording = sample_8ch.recording

    assert recording.ch_names == tuple(f"Channel {i}" for i in range(1, 9))
    assert recording.sfreq == 256.0 and recording.n_times == 50_688
    assert recording.subject == "ov" and check_recording(recording).ok


def test_real_file_flashes_targets_and_groups(sample_8ch):
    recording, metadata = sample_8ch.recording, sample_8ch.metadata
    onsets = recording.onsets

    # 701 group codes and 701 flags, one pair sent twice at sample 30536: 700 flashes
    assert onsets.size == 700 and (recording.stim[onsets] == 2).sum() == 100
    np.testing.assert_array_equal(np.bincount(recording.stim_item[onsets]), [50] * 14)
    assert metadata["duplicate_events"] == "2"
    assert metadata["unpaired_group_events"] == metadata["unpaired_target_events"] == "[]"


def test_real_file_onsets_are_the_group_codes_before_visual_stimulation_start(sample_8ch):
    raw = mne.io.read_raw_gdf(real_file(GDF), verbose="error")
    flash_on = np.sort(mne.events_from_annotations(raw, {"32779": 1}, verbose="error")[0][:, 0])
    onsets = sample_8ch.recording.onsets

    lags = flash_on[np.searchsorted(flash_on, onsets)] - onsets
    assert set(lags.tolist()) <= {15, 16, 17}


def test_real_file_matrix_is_seven_by_seven_and_characters_follow_trial_starts(sample_8ch):
    metadata = sample_8ch.metadata
    characters = sample_8ch.flash_characters()
    targets = sample_8ch.recording.stim[sample_8ch.recording.onsets] == 2

    assert (metadata["n_groups"], metadata["matrix_rows"], metadata["matrix_columns"]) == (
        "14",
        "7",
        "7",
    )
    assert json.loads(metadata["character_starts"]) == [11210, 19234, 27260, 35286, 43312]
    np.testing.assert_array_equal(np.bincount(characters), [140] * 5)  # 10 sequences × 14
    np.testing.assert_array_equal(np.bincount(characters[targets]), [20] * 5)


def test_real_file_spells_the_same_cells_as_the_bci2000_file(sample_8ch):
    # the BCI2000 file spells "AH71K" on a 6×8 matrix of A-Z, 0-9, ...; this one holds no symbols,
    # but its targets point to the same cells of a 7×7 matrix: "AH71K" in the same symbol order
    cells = target_cells(sample_8ch)

    assert cells == [0, 7, 33, 27, 10]
    assert "".join("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[cell] for cell in cells) == "AH71K"


def test_real_file_targets_evoke_a_p300(sample_8ch):
    assert_p300(sample_8ch.recording)


def test_a_given_matrix_size_replaces_the_derived_one():
    imported = import_openvibe_gdf(real_file(GDF), n_rows=6, n_columns=8)

    assert (imported.metadata["matrix_rows"], imported.metadata["matrix_columns"]) == ("6", "8")


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"n_rows": 6}, r"n_rows and n_columns go together, got n_rows=6, n_columns=None"),
        ({"max_pair_gap": -1}, r"max_pair_gap must be a whole number of samples >= 0, got -1"),
        (
            {"n_rows": 6, "n_columns": 6},
            r"n_rows \+ n_columns must equal the 14 groups that flashed \(both >= 1\), got "
            r"n_rows=6, n_columns=6",
        ),
    ],
)
def test_options_that_do_not_fit_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        import_openvibe_gdf(real_file(GDF), **options)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (lambda gdf: gdf[:100_000], r"cannot read GDF file .* \(100000 bytes\), truncated or "),
        (lambda gdf: gdf[:3000], r"cannot read GDF file .* \(3000 bytes\), truncated or "),
        (lambda gdf: b"hello\n", r"is not a GDF file: it starts with b'hello\\n', not b'GDF '"),
        (
            lambda gdf: real_file("p3k_mit/bp2calib.dat").read_bytes(),
            r"is not a GDF file: it starts with b'BCI2000V'",
        ),
    ],
    ids=["truncated", "truncated-header", "text", "bci2000"],
)
def test_a_damaged_or_foreign_file_gets_one_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.gdf"
    path.write_bytes(content(real_file(GDF).read_bytes()))

    with pytest.raises(ValueError, match=message):
        import_openvibe_gdf(path)
