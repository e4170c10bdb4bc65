from io import StringIO

from click.testing import CliRunner
from rich.console import Console

from p300_ops.cli import main
from p300_ops.commands.train import tuning_table


def test_tuning_table_lists_every_trial_and_the_winner():
    output = {"run_id": "parent1", "best_trial": 1, "model_name": "P300-Classifier",
              "model_version": "4", "alias": "challenger", "trials": [
                  {"index": 0, "label": "lda window=-0.1–0.1 s", "status": "succeeded",
                   "roc_auc": 0.51, "duration_s": 6.25},
                  {"index": 1, "label": "lda window=0–0.6 s", "status": "succeeded",
                   "roc_auc": 0.8312, "duration_s": 7.0},
                  {"index": 2, "label": "lda window=0.7–0.8 s", "status": "failed",
                   "error": "ValueError", "roc_auc": None, "duration_s": None}]}  # fmt: skip
    out = StringIO()
    Console(file=out, width=120).print(tuning_table(output))
    text = out.getvalue()
    for expected in ("1 *", "0.831", "6.2 s", "failed: ValueError", "version 4", "parent1"):
        assert expected in text


def test_tuning_refuses_model_options_outside_the_grid():
    result = CliRunner().invoke(main, ["train", "--grid", "shrinkage=auto", "--model", "lda",
                                       "--param", "shrinkage=0.1"])  # fmt: skip
    assert result.exit_code == 2
    assert "give models and parameters in --grid" in result.output


def test_a_bad_grid_is_a_usage_error():
    result = CliRunner().invoke(main, ["train", "--grid", "window=early"])
    assert result.exit_code == 2
    assert "window values must be START:STOP" in result.output
