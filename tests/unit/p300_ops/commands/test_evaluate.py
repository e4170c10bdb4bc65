"""`p300 evaluate` as a view: its options reach the report, which it renders as Markdown or
JSON. The report itself is measured by tests/unit/p300/test_real_data.py (a synthetic speller
folder and the shared real recordings): measuring here again would cost minutes per run."""

import json

import pytest
from click.testing import CliRunner

from p300.real_data import FolderReport, PolicyResult, RecordingReport
from p300_ops.cli import main
from p300_ops.services import real_data_report
from p300_ops.services.real_data_report import default_folder

REPORT = FolderReport(
    recordings=[
        RecordingReport(
            name="s1", n_channels=16, sfreq=512.0, n_flashes=309,
            policies=[PolicyResult(p, 1.0, 1.0, {"lda": 0.7, "xdawn-riemann": 0.75})
                      for p in ("none", "fixed", "robust")],
            model_auc={"lda": 0.73, "xdawn-riemann": 0.73, "xdawn-mdm": 0.77}, folds="3-fold",
            calibrated_auc=0.757, calibrated_reason="xdawn-mdm: best inner ROC-AUC",
            speller=None, seconds=1.0,
        )
    ],
    cross_session=[],
)  # fmt: skip


@pytest.fixture
def calls(monkeypatch):
    """What `p300 evaluate` asked the library for; it answers `REPORT`."""
    seen = []

    def evaluate_folder(folder, **options):
        seen.append((folder, options))
        return REPORT

    monkeypatch.setattr("p300.real_data.evaluate_folder", evaluate_folder)
    return seen


def test_the_report_is_rendered_as_markdown_or_json(calls, tmp_path):
    result = CliRunner().invoke(main, ["evaluate", str(tmp_path), "--folds", "3", "--seed", "2"])
    assert result.exit_code == 0, result.output
    assert calls == [(tmp_path, {"n_folds": 3, "seed": 2})]
    assert "Published anchors" in result.output and "| s1 | robust | 100.0% |" in result.output
    as_json = CliRunner().invoke(main, ["evaluate", str(tmp_path), "--json"])
    assert json.loads(as_json.stdout)["recordings"][0]["calibrated_auc"] == 0.757


def test_the_default_folder_is_the_shared_one(calls, monkeypatch, tmp_path):
    monkeypatch.setenv("P300_SHARED_DATA", str(tmp_path))
    assert CliRunner().invoke(main, ["evaluate"]).exit_code == 0
    assert calls[0][0] == tmp_path
    assert default_folder({}).parts[-3:] == ("shared", "data", "real")


@pytest.mark.parametrize(
    ("folder", "message"),
    [
        ("/nonexistent/recordings", "no folder of recordings at /nonexistent/recordings"),
        ("{empty}", "no .parquet, .dat or .gdf recording under"),
    ],
)
def test_a_folder_without_recordings_is_one_clear_error(tmp_path, folder, message):
    result = CliRunner().invoke(main, ["evaluate", folder.replace("{empty}", str(tmp_path))])
    assert result.exit_code == 1
    assert message in result.output
    assert real_data_report.SHARED_DATA_ENV in result.output or "cannot evaluate" in result.output
