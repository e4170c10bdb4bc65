"""`p300 evaluate`: the real-data report on a folder of recordings
(`p300_ops.services.real_data_report`)."""

import json
from pathlib import Path

import click
from rich.console import Console

from p300_ops.commands.common import json_option
from p300_ops.services import real_data_report


@click.command()
@click.argument(
    "folder", required=False, type=click.Path(file_okay=False, path_type=Path), default=None
)
@click.option(
    "--folds",
    type=click.IntRange(min=2),
    default=5,
    show_default=True,
    help="Within-session folds.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@json_option
def evaluate(folder, folds, seed, as_json) -> None:
    """Measure every recording of FOLDER (.parquet, BCI2000 .dat, OpenViBE .gdf): epochs kept
    and ROC-AUC per rejection policy, within-session ROC-AUC per model and of the calibrated
    choice, cross-session ROC-AUC, speller character accuracy by repetitions, next to the
    published MOABB anchors. Runs locally, no cloud needed; about 1-2 min per recording.

    FOLDER defaults to $P300_SHARED_DATA, else ../shared/data/real next to the repository.

    \b
    Examples:
      p300 evaluate
      p300 evaluate ../shared/data/real/p3k_mit --json > report.json
    """
    target = folder or real_data_report.default_folder()
    with Console(stderr=True).status(f"evaluating the recordings of {target} ..."):
        report = real_data_report.evaluate(target, n_folds=folds, seed=seed)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        from p300.real_data import format_report

        click.echo(format_report(report))
