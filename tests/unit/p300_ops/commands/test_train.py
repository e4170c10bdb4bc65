from io import StringIO

import pytest
from click.testing import CliRunner
from rich.console import Console

from p300_ops.cli import main
from p300_ops.commands.train import result_table
from p300_ops.services.training_runs import parse_params, train_request


def test_default_request_is_system_a_half_of_the_subjects():
    assert train_request() == {
        "training_subjects_percentage": 50.0,
        "subjects": None,
        "auto_set_challenger_alias": False,
        "model_name": "lda",
        "model_params": {},
        "seed": 42,
    }


def test_named_subjects_replace_the_percentage():
    request = train_request(subjects="1, 02,5,", auto_set_challenger_alias=True, seed=7)
    assert request["subjects"] == ["01", "02", "05"]
    assert request["training_subjects_percentage"] is None
    assert (request["auto_set_challenger_alias"], request["seed"]) == (True, 7)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"percentage": 75.0, "subjects": "01"}, "not both"),
        ({"subjects": " , "}, "must name at least one subject"),
        ({"subjects": "01,a/b"}, "--subjects must be 1–64 letters"),
    ],
)
def test_bad_requests(options, message):
    with pytest.raises(ValueError, match=message):
        train_request(**options)


def test_parse_params_reads_json_values():
    assert parse_params(("shrinkage=0.1", "solver=lsqr", "n=3", "flag=true")) == {
        "shrinkage": 0.1, "solver": "lsqr", "n": 3, "flag": True,
    }  # fmt: skip
    with pytest.raises(ValueError, match="--param must be NAME=VALUE, got 'shrinkage'"):
        parse_params(("shrinkage",))


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
