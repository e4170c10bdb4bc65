"""`p300 simulate` without a cloud: option checks, the printed table and summary lines."""

import pytest
from click.testing import CliRunner

from p300_ops.cli import main
from p300_ops.commands.simulate import report_table, summary_lines


@pytest.mark.parametrize(
    ("arguments", "message"),
    [(["--subjects", "0_6", "--alias", "challenger"], "--subjects must be 1–64 letters"),
     (["--subjects", " , ", "--alias", "champion"], "--subjects must name at least one subject"),
     (["--subjects", "06", "--alias", "staging"], "'staging' is not one of")],
)  # fmt: skip
def test_bad_options_are_usage_errors(arguments, message):
    result = CliRunner().invoke(main, ["simulate", *arguments])
    assert result.exit_code == 2
    assert message in result.output


def test_without_a_cloud_it_says_to_start_one(tmp_path):
    result = CliRunner().invoke(
        main, ["simulate", "--subjects", "06", "--alias", "challenger", "--home", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "the local cloud is not running: run `p300 up`" in result.output


def _document(**changes) -> dict:
    metrics = {"n_epochs": 10, "n_target": 2, "accuracy": 0.9, "kappa": 0.5, "roc_auc": None,
               "tn": 7, "fp": 1, "fn": 0, "tp": 2}  # fmt: skip
    return {
        "alias": "champion", "url": "http://h/prod/predict-champion/predict", "batch_size": 256,
        "per_subject": {"09": metrics}, "pooled": metrics, "n_requests": 2,
        "latency_ms": {"p50": 12.0, "p95": 30.0, "p99": 31.0}, "throughput_epochs_per_s": 80.0,
        "served_models": [{"version": "1", "n_requests": 2}], "registry_version": "1",
        "version_matches": True, "extras": {"first_request_ms": 400.0}, "wandb_dir": None,
    } | changes  # fmt: skip


def test_report_table_has_subjects_and_pooled():
    table = report_table(_document())
    assert [c.header for c in table.columns][:4] == ["subject", "n_epochs", "n_target", "accuracy"]
    assert list(table.columns[0].cells) == ["09", "pooled"]
    assert list(table.columns[5].cells) == ["-", "-"]  # undefined ROC-AUC


def test_summary_lines_flag_a_version_mismatch_and_name_the_wandb_run():
    lines = summary_lines(_document(version_matches=False, wandb_dir="/s/wandb/offline-run-1"))
    assert "p95 30.0 ms" in lines[0] and "2 requests" in lines[0]
    assert "first (warm-up) request 400.0 ms" in lines[1]
    assert lines[2].endswith("MLflow champion → version 1: DOES NOT MATCH")
    assert lines[3] == (
        "W&B offline run: /s/wandb/offline-run-1  (upload: wandb sync /s/wandb/offline-run-1)"
    )
