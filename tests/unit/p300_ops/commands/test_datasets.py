import hashlib
from datetime import UTC, datetime
from io import StringIO

import click
import pytest
from click.testing import CliRunner
from rich.console import Console

from p300_aws.datasets import DatasetRun, diff_manifests, parse_manifest
from p300_ops.cli import main
from p300_ops.commands.datasets import diff_table, given_options, manifest_table, runs_table
from p300_ops.services.dataset_versions import run_row


def test_given_options_are_those_set_on_the_command_line():
    seen = {}

    @click.command()
    @click.option("--seed", type=int, default=42)
    @click.option("--model", default="lda")
    @click.option("--dataset")
    def command(seed, model, dataset):
        seen["given"] = given_options(click.get_current_context())

    result = CliRunner().invoke(command, ["--dataset", "abcd", "--model", "lda"])
    assert result.exit_code == 0, result.output
    assert seen["given"] == {"dataset", "model"}


def _manifest(*versions: tuple[str, str]):
    return parse_manifest({"objects": [
        {"bucket": "b", "key": f"subject={s}/session=01/features.parquet", "version_id": v,
         "sha256": hashlib.sha256(f"{s}{v}".encode()).hexdigest(), "subject": s, "session": "01"}
        for s, v in versions
    ]})  # fmt: skip


def _render(table) -> str:
    out = StringIO()
    Console(file=out, width=200).print(table)
    return out.getvalue()


def test_tables_show_runs_objects_and_changes():
    old, new = _manifest(("01", "v1"), ("02", "v1")), _manifest(("01", "v1"), ("02", "v2"),
                                                                 ("03", "v1"))  # fmt: skip
    run = DatasetRun("run123", datetime(2026, 11, 2, 9, 30, tzinfo=UTC), new.sha256, {}, 0.8123,
                     ("4",))  # fmt: skip

    listed = _render(runs_table([run], {new.sha256: new}))
    assert all(text in listed for text in ("run123", "2026-11-02 09:30:00", new.sha256[:12],
                                           "0.812", " 3 "))  # fmt: skip
    assert run_row(run, new) | {"start_time": None} == {
        "run_id": "run123", "start_time": None, "study": "system-a",
        "manifest_sha256": new.sha256, "n_subjects": 3,
        "n_sessions": 3, "n_objects": 3, "model_versions": ["4"], "roc_auc": 0.8123,
    }  # fmt: skip
    shown = _render(manifest_table(new))
    assert "subject=03/session=01/features.parquet" in shown and new.sha256 in shown
    changes = _render(diff_table(diff_manifests(old, new)))
    assert "added" in changes and "changed" in changes and "1 objects unchanged" in changes
    assert "v2" in changes


@pytest.mark.parametrize(
    "args", [["datasets", "list"], ["datasets", "diff", "ab12", "cd34"],
             ["train", "--dataset", "ab12"]]
)  # fmt: skip
def test_without_a_running_cloud_the_error_says_so(args, tmp_path):
    result = CliRunner().invoke(main, [*args, "--home", str(tmp_path)])
    assert result.exit_code == 1
    assert "the local cloud is not running: run `p300 up`" in result.output


@pytest.mark.parametrize("command", [["datasets"], ["datasets", "list"], ["datasets", "show"],
                                     ["datasets", "diff"]], ids=" ".join)  # fmt: skip
def test_datasets_commands_have_help_with_an_example(command):
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output and "p300 datasets" in result.output
