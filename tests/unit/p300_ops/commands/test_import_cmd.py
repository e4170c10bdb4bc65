import mne
import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from p300.raw_io import read_recording
from p300_ops.cli import main
from tests.real_data import real_file

SFREQ = 256.0
ONSETS_S = np.arange(1.0, 28.0, 0.25)
IS_TARGET = np.arange(ONSETS_S.size) % 6 == 0


@pytest.fixture(scope="module")
def vhdr(tmp_path_factory):
    """A BrainVision recording exported by MNE: 30 s, 3 EEG channels, target/nontarget markers."""
    rng = np.random.default_rng(5)
    raw = mne.io.RawArray(
        rng.normal(0.0, 10e-6, (3, int(30 * SFREQ))),
        mne.create_info(["Fz", "Cz", "Pz"], SFREQ, "eeg"),
        verbose="error",
    )
    raw.set_annotations(mne.Annotations(ONSETS_S, 0.0, np.where(IS_TARGET, "tgt", "std")))
    path = tmp_path_factory.mktemp("bv") / "rec.vhdr"
    mne.export.export_raw(path, raw, verbose="error")
    return path


def invoke(*args):
    return CliRunner().invoke(main, ["import", *map(str, args)])


def test_list_events(vhdr):
    result = invoke(vhdr, "--list-events")
    assert result.exit_code == 0, result.output
    assert "'Comment/tgt'" in result.output and str(IS_TARGET.sum()) in result.output


def test_converts_with_an_event_map(vhdr, tmp_path):
    out = tmp_path / "rec.parquet"
    result = invoke(vhdr, "--event", "Comment/tgt=target", "--event", "Comment/std=1",
                    "--subject", "4", "--channels", "Pz,Cz", "--out", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    recording = read_recording(out)
    assert recording.ch_names == ("Pz", "Cz")
    assert (recording.sfreq, recording.subject) == (SFREQ, "04")
    assert int((recording.stim == 2).sum()) == IS_TARGET.sum()
    assert int((recording.stim == 1).sum()) == (~IS_TARGET).sum()
    assert f"{IS_TARGET.sum()} target and {(~IS_TARGET).sum()} non-target flashes" in result.output


def test_missing_events_are_reported_with_those_present(vhdr, tmp_path):
    result = invoke(vhdr, "--out", tmp_path / "x.parquet")  # default map: target/nontarget
    assert result.exit_code == 1
    assert "cannot import" in result.output and "Comment/tgt" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give --out OUT.parquet, --upload, or both"),
        (["--upload"], "--upload needs --subject"),
        (["--out", "x.parquet", "--event", "tgt"], "--event must be NAME=CODE"),
        (["--out", "x.parquet", "--subject", "a b"], "--subject must be 1–64 letters"),
    ],
)
def test_argument_errors(vhdr, args, message):
    result = invoke(vhdr, *args)
    assert result.exit_code == 2
    assert message in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bids", "."], "give FILE or --bids ROOT (one of them)"),
        (["--out", "x.parquet", "--study", "My Study"], "--study must be 1–64 lowercase"),
    ],
)
def test_source_and_study_errors(vhdr, args, message):
    result = invoke(vhdr, *args)
    assert result.exit_code == 2
    assert message in result.output


def test_bids_needs_a_subject_and_a_task(tmp_path):
    result = invoke("--bids", tmp_path, "--out", tmp_path / "x.parquet")
    assert result.exit_code == 2
    assert "--bids needs --subject and --task" in result.output


def test_a_bci2000_file_keeps_its_codes_speller_metadata_and_study(tmp_path):
    source = real_file("p3k_mit/bp2calib.dat")
    out = tmp_path / "bp2calib.parquet"
    result = invoke(source, "--subject", "1", "--session", "1", "--study", "speller",
                    "--out", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "(bci2000-dat)" in result.output and "speller text:" in result.output
    metadata = {k.decode(): v.decode() for k, v in pq.read_schema(out).metadata.items()}
    assert (metadata["study"], metadata["source_format"], metadata["subject"]) == (
        "speller", "bci2000-dat", "01"
    )  # fmt: skip
    recording = read_recording(out)
    assert recording.stim_item is not None and int((recording.stim == 2).sum()) > 0
