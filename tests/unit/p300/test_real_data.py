"""The real-data report: loading a folder, measuring a recording, the speller split."""

import dataclasses

import numpy as np
import pytest

from p300.models import MODEL_NAMES
from p300.preprocessing import PreprocessingParams
from p300.raw_io import write_recording_parquet
from p300.real_data import (
    N_CALIBRATION_CHARACTERS,
    POLICIES,
    evaluate_folder,
    evaluate_recording,
    format_report,
    load_folder,
    speller_split,
)
from p300.synthetic import make_session
from tests.real_data import MUSE_RECORDINGS, real_data_dir

#: Whole-recording evaluations (cross-validated fits): ~1 min each alone, several on a busy machine.
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def real_recordings():
    return {recording.name: recording for recording in load_folder(real_data_dir())}


def test_the_shared_folder_holds_two_spellers_and_six_oddballs(real_recordings):
    assert len(real_recordings) == 8
    bci2000, openvibe = real_recordings["bp2calib"], real_recordings["data_sample_8ch"]
    assert (bci2000.speller.n_rows, bci2000.speller.n_cols) == (6, 8)
    assert np.bincount(bci2000.speller.characters).tolist() == [210] * 5
    assert np.bincount(openvibe.speller.characters).tolist() == [140] * 5
    muse = [r for name, r in real_recordings.items() if name.startswith(("visual", "auditory"))]
    assert len(muse) == 6 and all(r.speller is None for r in muse)
    assert all(r.raw.ch_names == ("TP9", "AF7", "AF8", "TP10") for r in muse)


def test_calibrating_on_three_characters_decodes_bp2calib_at_least_as_well_as_plain_lda(
    real_recordings,
):
    result = speller_split(real_recordings["bp2calib"])
    assert (result.n_calibration, result.n_decoded) == (3, 2)
    assert len(result.accuracy) == len(result.plain_lda_accuracy) == 15
    assert all(
        ours >= plain
        for ours, plain in zip(result.accuracy, result.plain_lda_accuracy, strict=True)
    )
    assert result.accuracy[-1] == 1.0
    assert result.reason.startswith(result.model_name)


@pytest.fixture(scope="module")
def synthetic_folder(tmp_path_factory):
    """A synthetic 6 × 6 speller in the landing form, with the importers' speller metadata."""
    folder = tmp_path_factory.mktemp("real")
    recording = dataclasses.replace(
        make_session(seed=11, n_channels=6, sfreq=256.0, duration_s=150), subject="s1"
    )
    write_recording_parquet(
        recording,
        folder / "speller.parquet",
        extra_metadata={"matrix_rows": "6", "matrix_columns": "6"},
    )
    return folder


def test_evaluate_folder_measures_a_synthetic_speller(synthetic_folder):
    report = evaluate_folder(synthetic_folder, policy_models=("lda",), n_folds=3)
    (recording,) = report.recordings
    assert [p.policy for p in recording.policies] == list(POLICIES)
    none = recording.policies[0]
    assert none.kept_share == 1.0 and all(0 < p.kept_share <= 1 for p in recording.policies)
    assert all(0.5 < p.auc["lda"] <= 1 for p in recording.policies)
    assert set(recording.model_auc) == set(MODEL_NAMES)
    assert recording.calibrated_reason.split(":")[0] in MODEL_NAMES
    assert recording.folds.startswith("stratified 3-fold")
    speller = recording.speller
    assert speller.n_calibration == N_CALIBRATION_CHARACTERS and speller.n_decoded >= 1
    assert len(speller.accuracy) == len(speller.plain_lda_accuracy) == 8
    assert report.cross_session == []
    text = format_report(report)
    assert "| speller | robust |" in text and "BNCI2014-009" in text
    assert "plain LDA, offline, no rejection" in text


def test_two_sessions_of_a_subject_are_scored_across_sessions(synthetic_folder, tmp_path):
    first = make_session(seed=12, n_channels=6, sfreq=256.0, duration_s=60)
    half = first.n_times // 2
    for session, part in (("01", slice(0, half)), ("02", slice(half, first.n_times))):
        cut = dataclasses.replace(
            first, data=first.data[:, part], stim=first.stim[part], stim_item=None,
            subject="s2", session=session,
        )  # fmt: skip
        write_recording_parquet(cut, tmp_path / f"s2_{session}.parquet")
    report = evaluate_folder(tmp_path, policy_models=("lda",), n_folds=3)
    (cross,) = report.cross_session
    assert (cross.subject, cross.sessions) == ("s2", ["01", "02"])
    assert cross.description == "fitted on sessions ['01'], scored on '02'"
    assert 0.5 < cross.auc <= 1


def test_policies_must_include_none_and_the_default(real_recordings):
    with pytest.raises(ValueError, match=r"policies must include \['none'\]"):
        evaluate_recording(
            real_recordings["visual_subject_4"], policies={"robust": PreprocessingParams()}
        )


def test_a_folder_without_recordings_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(ValueError, match=r"no \.parquet, \.dat or \.gdf recording under"):
        load_folder(tmp_path)


def test_every_muse_recording_of_the_folder_is_tested():
    found = sorted(path.stem for path in (real_data_dir() / "muse_p300").glob("*.parquet"))
    assert found == sorted(MUSE_RECORDINGS)
