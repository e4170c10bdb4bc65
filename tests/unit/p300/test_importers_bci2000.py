"""BCI2000 .dat: our reader on files written here, and the importer on the real P3Speller file."""

import io
import json

import mne
import numpy as np
import pyarrow.parquet as pq
import pytest

from p300.contract import check_recording
from p300.importers import import_bci2000, read_bci2000, spelled_text, target_cells
from p300.importers.bci2000 import flash_onsets
from p300.importers.bci2000_file import DATA_FORMATS
from p300.raw_io import read_recording, recording_to_parquet_bytes
from tests.real_data import assert_p300, real_file

N_SAMPLES = 40
SPELLER_PARAMETERS = (
    "Application:Speller%20Targets:P3SpellerTask intlist NumMatrixRows= 1 2 6 0 % // rows",
    "Application:Speller%20Targets:P3SpellerTask intlist NumMatrixColumns= 1 2 6 1 % // cols",
    "Application:Speller%20Targets:P3SpellerTask matrix TargetDefinitions= 4 "
    "{ Display Enter } A A B B C C D D // targets",
    "Application:Speller:P3SpellerTask string TextToSpell= DB // text",
)


def write_dat(
    path, signal, states, *, parameters=(), data_format="float32", version="1.1", state_bytes=None
):
    """Write a BCI2000 .dat file; ``states`` are (name, length, byte, bit, values) tuples."""
    n_channels, n_samples = signal.shape
    if state_bytes is None:
        state_bytes = max((byte * 8 + bit + length + 7) // 8 for _, length, byte, bit, _ in states)
    packed = np.zeros((n_samples, state_bytes), np.uint8)
    for _, length, byte, bit, values in states:  # bit by bit, least significant first
        for k in range(length):
            position = byte * 8 + bit + k
            packed[:, position // 8] |= (((values >> k) & 1) << (position % 8)).astype(np.uint8)
    lines = [
        f"Source:Signal%20Properties:DataIOFilter int SourceCh= {n_channels} // channels",
        "Source:Signal%20Properties:DataIOFilter int SamplingRate= 256Hz // sample rate",
        *parameters,
    ]

    def header(header_len: int) -> str:
        first = f"HeaderLen= {header_len} SourceCh= {n_channels} StatevectorLen= {state_bytes}"
        if version != "1.0":
            first = f"BCI2000V= {version} {first} DataFormat= {data_format}"
        state_lines = [f"{name} {length} 0 {byte} {bit}" for name, length, byte, bit, _ in states]
        sections = ["[ State Vector Definition ] ", *state_lines, "[ Parameter Definition ] "]
        return "\r\n".join([first, *sections, *lines, "", ""])

    header_len = 0
    while len(header(header_len)) != header_len:  # HeaderLen counts its own digits
        header_len = len(header(header_len))
    frames = np.zeros(
        n_samples,
        [
            ("signal", DATA_FORMATS.get(data_format, "<i2"), (n_channels,)),
            ("state", "u1", (state_bytes,)),
        ],
    )
    frames["signal"], frames["state"] = signal.T, packed
    path.write_bytes(header(header_len).encode("latin-1") + frames.tobytes())


def speller_states(code, target, phase=None):
    """StimulusCode, StimulusType (and PhaseInSequence) laid out as the P3Speller does."""
    states = [("StimulusCode", 16, 2, 2, code), ("StimulusType", 1, 4, 2, target)]
    return states + ([("PhaseInSequence", 2, 4, 4, phase)] if phase is not None else [])


def small_signal(n_channels=2, dtype=np.float32):
    return (np.arange(n_channels * N_SAMPLES).reshape(n_channels, N_SAMPLES) % 50).astype(dtype)


# --- the reader ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data_format", "version", "gains", "microvolts_per_unit"),
    [
        ("float32", "1.1", "1 1", 1.0),
        ("int32", "1.1", "0.5muV 0.5muV", 0.5),
        ("int16", "1.1", "0.001mV 0.001mV", 1.0),
        ("int16", "1.0", "2 2", 2.0),
    ],
)
def test_samples_of_each_format_are_read_with_gain_and_offset_applied(
    tmp_path, data_format, version, gains, microvolts_per_unit
):
    dtype = {"float32": np.float32, "int32": np.int32, "int16": np.int16}[data_format]
    stored = small_signal(dtype=dtype)
    parameters = (
        "Source:Signal%20Properties:DataIOFilter floatlist SourceChOffset= 2 10 0 0 % % // off",
        f"Source:Signal%20Properties:DataIOFilter floatlist SourceChGain= 2 {gains} 1 % % // gain",
    )
    path = tmp_path / "rec.dat"
    zeros = np.zeros(N_SAMPLES, np.int64)
    states = speller_states(zeros, zeros)
    write_dat(path, stored, states, parameters=parameters, data_format=data_format, version=version)

    dat = read_bci2000(path)

    expected = (stored.astype(float) - np.array([[10.0], [0.0]])) * microvolts_per_unit
    np.testing.assert_allclose(dat.signal, expected, rtol=1e-6)
    assert dat.signal.dtype == np.float64 and dat.sfreq == 256.0
    assert (dat.version, dat.data_format) == (version, data_format)
    assert dat.ch_names == ("EEG1", "EEG2")


def test_states_are_decoded_across_byte_boundaries(tmp_path):
    rng = np.random.default_rng(3)
    states = [
        ("Wide", 16, 2, 2, rng.integers(0, 2**16, N_SAMPLES)),  # bits 18..33: three bytes
        ("Straddling", 3, 0, 7, rng.integers(0, 8, N_SAMPLES)),  # bits 7..9
        ("Flag", 1, 1, 2, rng.integers(0, 2, N_SAMPLES)),  # bit 10
        ("Long", 32, 5, 0, rng.integers(0, 2**32, N_SAMPLES)),  # a whole 4-byte word
    ]
    path = tmp_path / "states.dat"
    write_dat(path, small_signal(), states)

    dat = read_bci2000(path)

    for name, _, _, _, values in states:
        np.testing.assert_array_equal(dat.states[name], values, err_msg=name)


def test_parameters_keep_lists_matrices_labels_and_decoded_words(tmp_path):
    parameters = (
        "Source:Signal%20Properties:DataIOFilter list ChannelNames= 2 Fz P%C3z // names",
        "Storage:Session string SubjectName= jo%20doe Name % % // subject",
        "Storage:Session string Empty= % // nothing",
        "Filtering matrix Weights= 2 { in out } 1 2 3 4 // unlabelled rows",
        *SPELLER_PARAMETERS,
    )
    path = tmp_path / "params.dat"
    zeros = np.zeros(N_SAMPLES, np.int64)
    write_dat(path, small_signal(), speller_states(zeros, zeros), parameters=parameters)

    parameters = read_bci2000(path).parameters

    assert parameters["SubjectName"].value == "jo doe" and parameters["Empty"].value == ""
    assert parameters["ChannelNames"].as_list() == ["Fz", "P\xc3z"]
    assert parameters["Weights"].as_matrix() == (None, ["in", "out"], [["1", "2"], ["3", "4"]])
    targets = parameters["TargetDefinitions"].as_matrix()
    assert targets == (None, ["Display", "Enter"], [["A", "A"], ["B", "B"], ["C", "C"], ["D", "D"]])
    assert parameters["NumMatrixRows"].as_list() == ["2"]
    assert read_bci2000(path).ch_names == ("Fz", "P\xc3z")


@pytest.mark.parametrize(
    ("code", "onsets"),
    [
        ([0, 0, 3, 3, 0, 5, 5, 2, 2, 0], [2, 5, 7]),  # 5 then 2 with no gap: two flashes
        ([4, 4, 0, 0], [0]),
        ([0, 0, 0], []),
    ],
)
def test_a_flash_starts_where_stimulus_code_becomes_nonzero_or_changes(code, onsets):
    np.testing.assert_array_equal(flash_onsets(np.array(code)), onsets)


def test_a_small_speller_file_imports_with_its_matrix_characters_and_text(tmp_path):
    # two characters on a 2x2 matrix ("A B / C D"); codes 1-2 rows, 3-4 columns
    code = np.zeros(N_SAMPLES, np.int64)
    phase = np.zeros(N_SAMPLES, np.int64)
    flashes = {4: 1, 7: 3, 10: 2, 13: 4, 24: 1, 27: 3, 30: 2, 33: 4}  # onset: code
    for onset, value in flashes.items():
        code[onset : onset + 2] = value
    phase[2:4], phase[22:24] = 1, 1  # the pause before each character
    target = np.zeros(N_SAMPLES, np.int64)
    for onset in (10, 13, 24, 33):  # "D" (row 2, column 2), then "B" (row 1, column 2)
        target[onset : onset + 2] = 1
    path = tmp_path / "speller.dat"
    write_dat(
        path, small_signal(), speller_states(code, target, phase), parameters=SPELLER_PARAMETERS
    )

    imported = import_bci2000(path, subject="s1")

    recording = imported.recording
    np.testing.assert_array_equal(recording.onsets, sorted(flashes))
    np.testing.assert_array_equal(recording.stim[recording.onsets], [1, 1, 2, 2, 2, 1, 1, 2])
    np.testing.assert_array_equal(recording.stim_item[recording.onsets], [0, 2, 1, 3] * 2)
    assert (recording.stim_item == -1).sum() == N_SAMPLES - 8 and recording.subject == "s1"
    assert imported.metadata["matrix_rows"] == imported.metadata["matrix_columns"] == "2"
    assert json.loads(imported.metadata["matrix_symbols"]) == ["A", "B", "C", "D"]
    np.testing.assert_array_equal(imported.flash_characters(), [0, 0, 0, 0, 1, 1, 1, 1])
    assert spelled_text(imported) == imported.metadata["text_to_spell"] == "DB"


# --- bad input ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_dat_bytes():
    return real_file("p3k_mit/bp2calib.dat").read_bytes()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda b: b[:-7], r"truncated or empty: 3180313 bytes after the header are not a whole"),
        (
            lambda b: b[:5000],
            r"truncated: its header says HeaderLen=19595 bytes, the file has 5000",
        ),
        (lambda b: b[:19595], r"truncated or empty: 0 bytes after the header"),
        (
            lambda b: b.replace(b"DataFormat= float32", b"DataFormat= float64", 1),
            r"DataFormat of BCI2000 file .* must be one of \('int16', 'int32', 'float32'\), "
            r"got 'float64'",
        ),
        (
            lambda b: b.replace(b"BCI2000V= 1.1", b"BCI2000V= 3.0", 1),
            r"format version BCI2000V='3.0'; this reader reads versions \('1.0', '1.1'\)",
        ),
        (
            lambda b: b.replace(b"[ State Vector Definition ]", b"[ State Vectors Defined ]  ", 1),
            r"has no '\[ State Vector Definition \]' section",
        ),
        (
            lambda b: b.replace(b"StimulusType 1 0 4 2", b"StimulusType 1 0 x 2", 1),
            r"state line must be 'Name Length Value ByteLocation BitLocation', got "
            r"'StimulusType 1 0 x 2'",
        ),
        (
            lambda b: b.replace(b"StimulusType 1 0 4 2", b"StimulusType 1 0 20 2", 1),
            r"state StimulusType \(length 1 at byte 20 bit 2\) does not fit a 15-byte state vector",
        ),
    ],
    ids=[
        "cut-mid-sample",
        "cut-in-header",
        "no-samples",
        "data-format",
        "version",
        "no-state-section",
        "bad-state-line",
        "state-outside-vector",
    ],
)
def test_a_damaged_or_unsupported_file_gets_one_clear_error(
    tmp_path, real_dat_bytes, change, message
):
    path = tmp_path / "bad.dat"
    path.write_bytes(change(real_dat_bytes))

    with pytest.raises(ValueError, match=message):
        import_bci2000(path)


def test_a_file_of_another_format_is_not_taken_for_bci2000():
    with pytest.raises(ValueError, match=r"is not a BCI2000 .dat file: its first line must hold"):
        import_bci2000(real_file("p3k_mit/data_sample_8ch.gdf"))


@pytest.mark.parametrize(
    ("states", "message"),
    [
        (
            [("StimulusCode", 16, 0, 0, np.ones(N_SAMPLES, np.int64))],
            r"lacks the state\(s\) \['StimulusType'\] that mark P300 flashes; its states are "
            r"\['StimulusCode'\]",
        ),
        (
            speller_states(np.zeros(N_SAMPLES, np.int64), np.zeros(N_SAMPLES, np.int64)),
            "holds no flash: StimulusCode is 0 throughout",
        ),
    ],
)
def test_a_file_without_flashes_is_refused(tmp_path, states, message):
    path = tmp_path / "noflash.dat"
    write_dat(path, small_signal(), states)

    with pytest.raises(ValueError, match=message):
        import_bci2000(path)


def test_gains_must_name_every_channel_in_a_known_unit(tmp_path):
    zeros = np.zeros(N_SAMPLES, np.int64)
    path = tmp_path / "gain.dat"
    gain = "Source floatlist SourceChGain= 2 1 1kV 1 % % // gain"
    write_dat(path, small_signal(), speller_states(zeros, zeros), parameters=(gain,))

    with pytest.raises(ValueError, match=r"SourceChGain: unit must be one of .*got '1kV'"):
        read_bci2000(path)

    gain = "Source floatlist SourceChGain= 1 1 1 % % // gain"
    write_dat(path, small_signal(), speller_states(zeros, zeros), parameters=(gain,))
    with pytest.raises(ValueError, match="SourceChGain has 1 values for 2 channels"):
        read_bci2000(path)


# --- the real P3Speller recording ---------------------------------------------------------------


@pytest.fixture(scope="module")
def bp2calib():
    return import_bci2000(real_file("p3k_mit/bp2calib.dat"), subject="bp2", session="calib")


def test_real_file_channels_rate_and_microvolts(bp2calib):
    recording = bp2calib.recording

    assert recording.ch_names == tuple(f"EEG{i}" for i in range(1, 11))
    assert recording.sfreq == 256.0 and recording.n_times == 57_824
    # the g.USBamp stores band-passed µV with gain 1: tens of µV, not volts nor mV
    assert np.all((recording.data.std(axis=1) > 5) & (recording.data.std(axis=1) < 50))
    assert check_recording(recording).ok


def test_real_file_matches_mne_reader_samples_and_stimulus_codes(bp2calib):
    # MNE reads the same frames (without gains, which are 1 here): an independent check
    raw = mne.io.read_raw_bci2k(real_file("p3k_mit/bp2calib.dat"), preload=True, verbose="error")
    recording = bp2calib.recording

    np.testing.assert_allclose(recording.data, raw.get_data(picks="eeg"), rtol=1e-12)
    code = raw.get_data(picks="stim")[0].astype(int)
    np.testing.assert_array_equal(recording.onsets, flash_onsets(code))
    np.testing.assert_array_equal(recording.stim_item[recording.onsets], code[recording.onsets] - 1)


def test_real_file_flashes_targets_and_groups(bp2calib):
    recording = bp2calib.recording
    onsets = recording.onsets
    targets = recording.stim[onsets] == 2

    assert onsets.size == 1050 and targets.sum() == 150
    # 5 characters × 15 sequences: every one of the 14 groups flashed 75 times
    np.testing.assert_array_equal(np.bincount(recording.stim_item[onsets]), [75] * 14)
    assert np.all(np.diff(onsets) >= 48)  # 62.5 ms flash + 125 ms gap at 256 Hz


def test_real_file_metadata_describes_the_speller(bp2calib):
    metadata = bp2calib.metadata

    expected = {
        "source_format": "bci2000-dat",
        "bci2000_version": "1.1",
        "bci2000_data_format": "float32",
        "n_groups": "14",
        "matrix_rows": "6",
        "matrix_columns": "8",
        "text_to_spell": "AH71K",
        "sequences_per_character": "15",
    }
    assert {key: metadata[key] for key in expected} == expected
    assert json.loads(metadata["matrix_symbols"])[:36] == list(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    )


def test_real_file_characters_hold_fifteen_sequences_and_spell_the_text(bp2calib):
    recording = bp2calib.recording
    characters = bp2calib.flash_characters()
    targets = recording.stim[recording.onsets] == 2

    np.testing.assert_array_equal(np.bincount(characters), [210] * 5)  # 15 × 14 groups each
    np.testing.assert_array_equal(np.bincount(characters[targets]), [30] * 5)  # 15 × (row, column)
    assert target_cells(bp2calib) == [0, 7, 33, 27, 10]
    assert spelled_text(bp2calib) == "AH71K"


def test_real_file_metadata_travels_in_the_landing_parquet(bp2calib):
    body = recording_to_parquet_bytes(bp2calib.recording, extra_metadata=bp2calib.metadata)

    stored = pq.read_schema(io.BytesIO(body)).metadata
    text = {key.decode(): value.decode() for key, value in stored.items()}
    assert {key: text[key] for key in bp2calib.metadata} == bp2calib.metadata
    assert (text["sfreq"], text["units"], text["subject"]) == ("256", "uV", "bp2")
    restored = read_recording(body)
    np.testing.assert_array_equal(restored.stim_item, bp2calib.recording.stim_item)


def test_metadata_may_not_redefine_what_the_recording_says(bp2calib):
    with pytest.raises(ValueError, match=r"extra_metadata may not set \['sfreq', 'subject'\]"):
        recording_to_parquet_bytes(
            bp2calib.recording, extra_metadata={"sfreq": "1", "subject": "x"}
        )


def test_real_file_targets_evoke_a_p300(bp2calib):
    assert_p300(bp2calib.recording)
