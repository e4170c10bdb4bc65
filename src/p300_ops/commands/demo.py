"""`p300 demo`: System A's nine-step demonstration as one command, in a private cloud."""

import os
import sys
import tempfile
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from p300_ops.services.system_a_demo import Demo, DemoConfig, save_report, step_rows

_COLOURS = {"ok": "green", "failed": "red", "skipped": "yellow"}


def summary_table(rows: list[dict]) -> Table:
    """One line per step: status, duration, model version, alias, metrics, latencies."""
    table = Table("#", "step", "status", "duration", "version", "alias", "accuracy", "kappa",
                  "ROC-AUC", "p50 ms", "p95 ms", title="P300 demo")  # fmt: skip
    for row in rows:
        table.add_row(
            str(row["step"]), row["name"], f"[{_COLOURS[row['status']]}]{row['status']}[/]",
            *(_shown(row[c]) for c in ("duration_s", "model_version", "alias", "accuracy",
                                        "kappa", "roc_auc", "latency_p50_ms", "latency_p95_ms")),
        )  # fmt: skip
    return table


def _shown(value) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


@click.command()
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="State home of the demo's own cloud (default: a new temporary directory).",
)
@click.option(
    "--duration",
    type=click.FloatRange(60, 3600),
    default=600.0,
    show_default=True,
    help="Length of each synthetic recording in s.",
)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 4096),
    default=256,
    show_default=True,
    help="Epochs per prediction request.",
)
@click.option("--no-wandb", is_flag=True, help="Do not log the evaluations to W&B.")
@click.option("--port", type=int, default=0, help="LocalStack port (default: a free one).")
@click.option("--mlflow-port", type=int, default=0, help="MLflow port (default: a free one).")
def demo(home, duration, seed, batch_size, no_wandb, port, mlflow_port) -> None:  # fmt: skip
    """Run System A's demonstration end to end: start a private cloud, ingest 10 synthetic
    subjects in two runs of 5, train version 1 on 01–05 as challenger and evaluate it on 06, 07,
    promote it to champion and evaluate it on 09, 10, train version 2 on 01–08 as challenger and
    evaluate it on 09, 10, then tear the cloud down. Exits 1 if any step failed.

    \b
    Example:
      p300 demo --duration 120
    """
    # MLflow's download progress bars (one per model bundle) would bury the step lines.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    home = (home or Path(tempfile.mkdtemp(prefix="p300-demo-"))).resolve()
    config = DemoConfig(
        home=home, duration_s=duration, seed=seed, batch_size=batch_size,
        use_wandb=not no_wandb, localstack_port=port, mlflow_port=mlflow_port,
    )  # fmt: skip
    click.echo(f"demo state home: {home}", err=True)
    steps = Demo(config, progress=lambda msg: click.echo(msg, err=True)).run()
    json_path, md_path = save_report(config, steps)
    # Logs and pipes get the whole table, not one folded to 80 columns.
    Console(width=None if sys.stdout.isatty() else 160).print(summary_table(step_rows(steps)))
    click.echo(f"report: {json_path}  ({md_path.name} alongside)")
    if any(s.status != "ok" for s in steps):
        sys.exit(1)
