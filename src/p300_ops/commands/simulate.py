"""`p300 simulate`: System A's application simulator against an alias's route of the API."""

from pathlib import Path

import click
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.table import Table

from p300_aws.names import CHALLENGER_ALIAS, CHAMPION_ALIAS
from p300_ops.commands.common import echo_json, home_option, json_option, usage_errors
from p300_ops.services import cloud, labels


def report_table(document: dict) -> Table:
    """Per-subject and pooled metrics of a simulation report, one row each."""
    columns = ("n_epochs", "n_target", "accuracy", "kappa", "roc_auc", "tn", "fp", "fn", "tp")
    table = Table("subject", *columns, title=f"{document['alias']}: {document['url']}")
    rows = [*document["per_subject"].items(), ("pooled", document["pooled"])]
    for subject, metrics in rows:
        table.add_row(subject, *(_shown(metrics[c]) for c in columns))
    return table


def summary_lines(document: dict) -> list[str]:
    """Latency, throughput and model-version lines under the table."""
    latency = document["latency_ms"]
    served = ", ".join(f"version {m['version']} ({m['n_requests']} requests)"
                       for m in document["served_models"])  # fmt: skip
    check = "matches" if document["version_matches"] else "DOES NOT MATCH"
    lines = [
        f"latency per request (batch {document['batch_size']}): p50 {latency['p50']:.1f} ms, "
        f"p95 {latency['p95']:.1f} ms, p99 {latency['p99']:.1f} ms over "
        f"{document['n_requests']} requests",
        f"first (warm-up) request {document['extras']['first_request_ms']:.1f} ms; throughput "
        f"{document['throughput_epochs_per_s']:.0f} epochs/s",
        f"served: {served}; MLflow {document['alias']} → version "
        f"{document['registry_version']}: {check}",
    ]
    if document.get("wandb_dir"):
        lines.append(f"W&B offline run: {document['wandb_dir']}  (upload: wandb sync "
                     f"{document['wandb_dir']})")  # fmt: skip
    return lines


def _shown(value) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


@click.command()
@click.option("--subjects", required=True, help="Comma-separated subject ids, e.g. 06,07.")
@click.option("--alias", type=click.Choice([CHAMPION_ALIAS, CHALLENGER_ALIAS]), required=True)
@click.option("--batch-size", type=click.IntRange(1, 4096), default=256, show_default=True,
              help="Epochs per request.")  # fmt: skip
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also save the JSON report here.")  # fmt: skip
@click.option("--no-wandb", is_flag=True, help="Do not log to Weights & Biases.")
@json_option
@home_option
def simulate(subjects, alias, batch_size, report_path, no_wandb, as_json, home) -> None:
    """Replay processed subjects through the champion or challenger route and score the answers.

    Logs to Weights & Biases offline (under the state home) unless --no-wandb; WANDB_MODE=online
    logs to the server instead.

    \b
    Example:
      p300 simulate --subjects 06,07 --alias challenger --report out.json
    """
    from p300_ops.services.simulation import run_simulation  # numpy, httpx: only when it runs

    with usage_errors():
        chosen = labels.label_list(subjects, name="--subjects")
    connected = cloud.connect(home)
    try:
        document = run_simulation(
            connected, chosen, alias=alias, home=cloud.resolve_home(home), batch_size=batch_size,
            use_wandb=not no_wandb, report_path=report_path,
        )  # fmt: skip
    except (LookupError, RuntimeError, ValueError, ClientError, BotoCoreError) as exc:
        raise click.ClickException(f"simulation failed: {exc}") from None
    if as_json:
        echo_json(document)
        return
    Console().print(report_table(document))
    for line in summary_lines(document):
        click.echo(line)
