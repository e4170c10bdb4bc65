import click
import pytest
from click.testing import CliRunner

from p300_ops.cli import main


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[list[str]]:
    """Every command and subcommand of the CLI, so a new one cannot skip its help."""
    paths = []
    for name, command in group.commands.items():
        paths.append([*prefix, name])
        if isinstance(command, click.Group):
            paths += command_paths(command, (*prefix, name))
    return paths


@pytest.mark.parametrize("command", command_paths(main), ids=" ".join)
def test_every_command_has_help_with_an_example(command):
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output
    assert f"p300 {command[0]}" in result.output
