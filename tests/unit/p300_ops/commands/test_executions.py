from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from click.testing import CliRunner
from rich.console import Console

from p300_ops.cli import main
from p300_ops.commands.executions import executions_table
from p300_ops.services.formatting import format_duration

START = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (0.4242, "0.42 s"), (12.34, "12.3 s"), (245.0, "4 min 05 s")],
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_executions_table_shows_machine_status_and_duration():
    arn = "arn:aws:states:us-east-1:000000000000:stateMachine:p300-train"
    rows = [{"name": "run-1", "stateMachineArn": arn, "status": "SUCCEEDED",
             "startDate": START, "stopDate": START + timedelta(seconds=75)}]  # fmt: skip
    out = StringIO()
    Console(file=out, width=120).print(executions_table(rows))
    text = out.getvalue()
    assert "run-1" in text and "train" in text and "SUCCEEDED" in text
    assert "2026-11-22 10:00:00" in text and "75.0 s" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["executions", "--status", "DONE"], "'DONE' is not one of"),
        (["executions", "list", "-n", "0"], "0 is not in the range 1<=x<=1000"),
        (["executions", "show"], "Missing argument 'EXECUTION'"),
    ],
)
def test_argument_errors(args, message):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert message in result.output


def test_needs_a_running_cloud(tmp_path):
    result = CliRunner().invoke(main, ["executions", "--home", str(tmp_path)])
    assert result.exit_code == 1
    assert "the local cloud is not running: run `p300 up`" in result.output
