import pytest
from click.testing import CliRunner

from p300_ops.cli import main

COMMANDS = [
    ["upload"], ["generate"], ["subjects"], ["executions"], ["executions", "list"],
    ["executions", "show"], ["train"], ["import"],
]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help_with_an_example(command):
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output
    assert f"p300 {command[0]}" in result.output
