"""The release commands' options: a subject's own models need both --study and --subject."""

import pytest
from click.testing import CliRunner

from p300_ops.cli import main


@pytest.mark.parametrize(
    "command",
    [
        ["deploy-model", "--alias", "champion"],
        ["promote"],
        ["rollback"],
        ["traffic"],
    ],
)
@pytest.mark.parametrize("given", [["--study", "speller"], ["--subject", "S01"]])
def test_study_and_subject_go_together(command, given, tmp_path):
    result = CliRunner().invoke(main, [*command, *given, "--home", str(tmp_path)])
    assert result.exit_code == 2
    assert "give --study and --subject together" in result.output


@pytest.mark.parametrize(
    ("value", "match"),
    [("0", "must be 'all' or a whole number >= 1, got '0'"), ("some", "got 'some'")],
)
def test_decode_repetitions_are_all_or_a_positive_number(value, match, tmp_path):
    recording = tmp_path / "run.dat"
    recording.write_bytes(b"")
    result = CliRunner().invoke(
        main, ["decode", str(recording), "--study", "s", "--subject", "1", "--repetitions", value]
    )
    assert result.exit_code == 2
    assert match in result.output
