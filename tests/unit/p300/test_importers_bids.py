"""BIDS: a small dataset written by mne-bids from synthetic recordings, read back."""

import shutil

import mne
import mne_bids
import numpy as np
import pandas as pd
import pytest

from p300.contract import check_recording
from p300.importers import import_bids

SFREQ = 256.0
CHANNELS = ["Fz", "Cz", "Pz"]
ONSETS = np.arange(256, 4864, 48)  # one flash every 187.5 ms from 1 s
IS_TARGET = np.arange(ONSETS.size) % 6 == 0
GROUPS = np.arange(ONSETS.size) % 12
RECORDINGS = [("01", "1"), ("01", "2"), ("02", None)]  # (subject, run) of task "p300", session 1


def write_recording(root, subject: str, run: str | None, seed: int) -> np.ndarray:
    """One 20-s recording, events.tsv columns trial_type, value and stim_item; its data in µV."""
    n_times = int(20 * SFREQ)
    volts = np.random.default_rng(seed).normal(0.0, 10e-6, (len(CHANNELS), n_times))
    raw = mne.io.RawArray(volts, mne.create_info(CHANNELS, SFREQ, "eeg"), verbose="error")
    codes = np.where(IS_TARGET, 2, 1)
    events = np.column_stack([ONSETS, np.zeros_like(ONSETS), codes])
    trial_type = np.where(IS_TARGET, "target", "nontarget")
    path = mne_bids.BIDSPath(
        root=root, subject=subject, session="1", task="p300", run=run, datatype="eeg"
    )
    mne_bids.write_raw_bids(
        raw, path, events=events, event_id={"target": 2, "nontarget": 1},
        event_metadata=pd.DataFrame({"trial_type": trial_type, "stim_item": GROUPS}),
        extra_columns_descriptions={"trial_type": "flash kind", "stim_item": "row/column group"},
        allow_preload=True, format="BrainVision", verbose="error",
    )  # fmt: skip
    return volts * 1e6


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("bids")
    microvolts = {
        (subject, run): write_recording(root, subject, run, seed)
        for seed, (subject, run) in enumerate(RECORDINGS)
    }
    return root, microvolts


def test_a_recording_imports_with_its_flashes_groups_and_entities(dataset):
    root, microvolts = dataset

    imported = import_bids(
        root, subject="01", session="1", task="p300", run="2", item_column="stim_item"
    )

    recording = imported.recording
    assert recording.ch_names == tuple(CHANNELS) and recording.sfreq == SFREQ
    np.testing.assert_allclose(recording.data, microvolts["01", "2"], atol=1e-3)
    np.testing.assert_array_equal(recording.onsets, ONSETS)
    np.testing.assert_array_equal(recording.stim[ONSETS], np.where(IS_TARGET, 2, 1))
    np.testing.assert_array_equal(recording.stim_item[ONSETS], GROUPS)
    assert (recording.subject, recording.session) == ("01", "1")
    assert check_recording(recording).ok
    assert imported.metadata == {
        "source_format": "bids",
        "source_file": "sub-01_ses-1_task-p300_run-2_eeg.vhdr",
        "bids_subject": "01",
        "bids_session": "1",
        "bids_task": "p300",
        "bids_run": "2",
        "n_groups": "12",
        "stim_item_coding": "events.tsv column 'stim_item'",
    }


def test_the_value_column_can_be_mapped_and_the_only_recording_needs_no_run(dataset):
    root, _ = dataset

    imported = import_bids(
        root, subject="02", task="p300", event_column="value", event_map={"2": 2, "1": 1}
    )

    recording = imported.recording
    np.testing.assert_array_equal(recording.stim[recording.onsets], np.where(IS_TARGET, 2, 1))
    assert recording.stim_item is None and "bids_run" not in imported.metadata


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"subject": "07", "task": "p300"},
            r"subject '07' is not in the BIDS dataset .*; its subjects are \['01', '02'\]",
        ),
        (
            {"subject": "01", "task": "p300"},
            r"subject '01' has several EEG recordings \(give session/run\) for session=None, "
            r"task='p300', run=None; its EEG recordings are \[\('1', 'p300', '1'\), "
            r"\('1', 'p300', '2'\)\]",
        ),
        (
            {"subject": "02", "task": "rest"},
            r"subject '02' has no EEG recording for session=None, task='rest', run=None; its EEG "
            r"recordings are \[\('1', 'p300', None\)\]",
        ),
        (
            {"subject": "02", "task": "p300", "event_column": "kind"},
            r"event_column 'kind' is not an events.tsv column; columns are \['onset', 'duration', "
            r"'value', 'sample', 'trial_type', 'stim_item'\]",
        ),
        (
            {"subject": "02", "task": "p300", "event_map": {"Target": 2}},
            r"event_map names trial_type values not in the events: \['Target'\]; values present "
            r"\(value: count\): \{'nontarget': 80, 'target': 16\}",
        ),
        (
            {"subject": "02", "task": "p300", "event_map": {"target": 3}},
            r"event_map must map event names to 1 \(non-target\) or 2 \(target\), got",
        ),
        (
            {"subject": "02", "task": "p300", "channels": ["Oz"]},
            r"channels \['Oz'\] not in the recording",
        ),
    ],
    ids=[
        "unknown-subject",
        "several-runs",
        "unknown-task",
        "no-column",
        "unknown-value",
        "bad-code",
        "unknown-channel",
    ],
)
def test_options_that_do_not_fit_the_dataset_get_one_clear_error(dataset, options, message):
    root, _ = dataset

    with pytest.raises(ValueError, match=message):
        import_bids(root, **options)


def test_a_folder_that_is_not_a_bids_dataset_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"is not a BIDS dataset: it has no dataset_description"):
        import_bids(tmp_path, subject="01", task="p300")


@pytest.mark.parametrize(
    ("bad_value", "message"),
    [
        (
            "n/a",
            r"item_column 'stim_item' must hold whole numbers >= 0 at every mapped event; "
            r"1 do not \(first: 'n/a'\)",
        ),
        ("-2", r"1 do not \(first: '-2'\)"),
        ("1.5", r"1 do not \(first: '1.5'\)"),
    ],
)
def test_an_item_column_that_is_not_group_numbers_is_refused(dataset, tmp_path, bad_value, message):
    root = shutil.copytree(dataset[0], tmp_path / "copy")
    events = root / "sub-02" / "ses-1" / "eeg" / "sub-02_ses-1_task-p300_events.tsv"
    table = pd.read_csv(events, sep="\t", dtype=str)
    table.loc[3, "stim_item"] = bad_value
    table.to_csv(events, sep="\t", index=False)

    with pytest.raises(ValueError, match=message):
        import_bids(root, subject="02", task="p300", item_column="stim_item")
