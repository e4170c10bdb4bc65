import pytest
from click.testing import CliRunner

from p300_ops.cli import main


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "95", "--subjects", "10"], "at most 99, got 104"),
        (["--duration", "5"], "5.0 is not in the range 10<=x<=3600"),
        (["--form", "edf"], "'edf' is not one of 'system-a', 'ours'"),
    ],
)
def test_argument_errors(tmp_path, args, message):
    result = CliRunner().invoke(main, ["generate", *args, "--home", str(tmp_path)])
    assert result.exit_code == 2
    assert message in result.output
