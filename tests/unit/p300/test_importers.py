"""Importing MNE-readable recordings: each format exported by MNE, read back into the contract."""

import mne
import numpy as np
import pytest

from p300.contract import check_recording
from p300.importers import DEFAULT_EVENT_MAP, import_recording, list_events

SFREQ = 256.0
CHANNELS = ["Fz", "Cz", "Pz"]
ONSETS_S = np.arange(1.0, 18.0, 0.25)
IS_TARGET = np.arange(ONSETS_S.size) % 5 == 0
EXPECTED_STIM = np.where(IS_TARGET, 2, 1)


def synthetic_raw(*, with_stim_channel: bool = False) -> mne.io.RawArray:
    """20 s of 10 µV noise on 3 EEG channels at 256 Hz, annotated 'target'/'nontarget' flashes."""
    n_times = int(20 * SFREQ)
    data = np.random.default_rng(11).normal(0.0, 10e-6, (len(CHANNELS), n_times))  # volts
    names, types = list(CHANNELS), ["eeg"] * len(CHANNELS)
    if with_stim_channel:
        stim = np.zeros((1, n_times))
        stim[0, np.round(ONSETS_S * SFREQ).astype(int)] = np.where(IS_TARGET, 33285, 33286)
        data, names, types = np.vstack([data, stim]), [*names, "STI 014"], [*types, "stim"]
    raw = mne.io.RawArray(data, mne.create_info(names, SFREQ, types), verbose="error")
    descriptions = np.where(IS_TARGET, "target", "nontarget")
    return raw.set_annotations(mne.Annotations(ONSETS_S, 0.0, descriptions))


def export(raw: mne.io.BaseRaw, path) -> None:
    if path.suffix == ".fif":
        raw.save(path, overwrite=True, verbose="error")
    else:
        mne.export.export_raw(path, raw, overwrite=True, verbose="error")


# file name, event map for that format (BrainVision prefixes annotation types)
FORMATS = [
    ("rec.edf", DEFAULT_EVENT_MAP),
    ("rec.vhdr", {"Comment/target": 2, "Comment/nontarget": 1}),
    ("rec_raw.fif", DEFAULT_EVENT_MAP),
    ("rec.set", DEFAULT_EVENT_MAP),
]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    directory = tmp_path_factory.mktemp("exports")
    raw = synthetic_raw()
    for name, _ in FORMATS:
        export(raw, directory / name)
    return directory, raw


@pytest.mark.parametrize(("name", "event_map"), FORMATS, ids=[f[0] for f in FORMATS])
def test_each_format_imports_channels_sfreq_microvolts_and_stim_codes(exported, name, event_map):
    directory, raw = exported

    recording = import_recording(directory / name, event_map=event_map, subject="s01")

    assert recording.ch_names == tuple(CHANNELS)
    assert recording.sfreq == SFREQ
    n_times = raw.n_times
    original_uv = raw.get_data() * 1e6
    # EDF stores 16-bit integers over the data range: ~0.002 µV steps for ±60 µV
    np.testing.assert_allclose(recording.data[:, :n_times], original_uv, atol=0.01)
    np.testing.assert_array_equal(recording.onsets, np.round(ONSETS_S * SFREQ).astype(int))
    np.testing.assert_array_equal(recording.stim[recording.onsets], EXPECTED_STIM)
    assert recording.subject == "s01" and recording.stim_item is None
    assert check_recording(recording).ok


def test_stim_channel_events_are_named_by_their_id(tmp_path):
    path = tmp_path / "stim_raw.fif"
    export(synthetic_raw(with_stim_channel=True), path)

    recording = import_recording(path, target_events=["33285"], nontarget_events=["33286"])

    assert list_events(path) == {"33285": 14, "33286": 54, "nontarget": 54, "target": 14}
    assert recording.ch_names == tuple(CHANNELS)  # the stim channel is not EEG
    np.testing.assert_array_equal(recording.stim[recording.onsets], EXPECTED_STIM)


def test_channels_can_be_chosen_and_ordered(exported):
    directory, _ = exported

    recording = import_recording(directory / "rec.edf", channels=["Pz", "Fz"])

    assert recording.ch_names == ("Pz", "Fz") and recording.data.shape[0] == 2


def test_a_missing_event_is_refused_listing_the_events_present(exported):
    directory, _ = exported

    with pytest.raises(
        ValueError,
        match=r"names events not in .*rec.vhdr.*\['target'\]; events present \(name: count\): "
        r"\{'Comment/nontarget': 54, 'Comment/target': 14\}",
    ):
        import_recording(directory / "rec.vhdr", event_map={"target": 2, "Comment/nontarget": 1})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"event_map": {"target": 3}}, r"to 1 \(non-target\) or 2 \(target\), got \{'target': 3\}"),
        ({"event_map": {}}, r"got \{\}"),
        ({"event_map": DEFAULT_EVENT_MAP, "target_events": ["target"]}, "not both"),
        ({"target_events": ["target"]}, "go together"),
        ({"channels": ["Oz"]}, r"channels \['Oz'\] not in the recording"),
    ],
)
def test_bad_options_are_refused_with_the_value_received(exported, options, message):
    directory, _ = exported

    with pytest.raises(ValueError, match=message):
        import_recording(directory / "rec_raw.fif", **options)


def test_events_of_different_codes_on_one_sample_are_refused(tmp_path):
    raw = synthetic_raw()
    raw.annotations.append(ONSETS_S[0], 0.0, "repeat")  # ONSETS_S[0] is a target
    path = tmp_path / "clash_raw.fif"
    export(raw, path)

    with pytest.raises(ValueError, match="falls on 1 samples already holding another code"):
        import_recording(path, event_map={"target": 2, "repeat": 1})
