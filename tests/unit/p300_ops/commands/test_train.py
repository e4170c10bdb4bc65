from io import StringIO

import pytest
from click.testing import CliRunner
from rich.console import Console

from p300_ops.cli import main
from p300_ops.commands.train import result_table


def test_result_table_shows_version_alias_and_metrics():
    output = {"run_id": "abc123", "model_name": "P300-Classifier", "model_version": "2",
              "alias": "challenger", "training_subjects": ["01", "02"], "test_subjects": ["03"],
              "metrics": {"roc_auc": 0.91234, "n_epochs": 1200}}  # fmt: skip
    out = StringIO()
    Console(file=out, width=100).print(result_table(output))
    text = out.getvalue()
    for expected in ("abc123", "P300-Classifier version 2", "challenger", "01, 02", "0.912"):
        assert expected in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--training-subjects-percentage", "100"], "100.0 is not in the range 0<x<100"),
        (["--training-subjects-percentage", "60", "--subjects", "01"], "not both"),
        (["--param", "oops"], "--param must be NAME=VALUE"),
    ],
)
def test_argument_errors_before_touching_the_cloud(tmp_path, args, message):
    result = CliRunner().invoke(main, ["train", *args, "--home", str(tmp_path)])
    assert result.exit_code == 2
    assert message in result.output
