"""`p300 cost`: what the local cloud's run would cost on AWS (`p300_ops.services.cost`)."""

import math

import click
from rich.console import Console
from rich.table import Table

from p300_ops.commands.common import aws_errors, echo_json, home_option, json_option, usage_errors
from p300_ops.services.cloud import CloudNotRunning
from p300_ops.services.cost import cost_report, report_dict, workload_text
from p300_ops.services.cost_model import CostReport, Workload
from p300_ops.services.cost_prices import PRICES_DATE, REGION

_SERVICES = {
    "lambda_usd": "Lambda",
    "step_functions_usd": "Step Fn",
    "api_usd": "API GW",
    "s3_usd": "S3",
    "logs_usd": "logs",
}


def _usd(value: float) -> str:
    """Dollars and cents from $1, else three significant digits ($0.000895, $0.00000412)."""
    if value >= 1 or value == 0:
        return f"${value:,.2f}"
    return f"${value:.{2 - math.floor(math.log10(value))}f}"


def unit_table(report: CostReport) -> Table:
    table = Table(title=f"Cost per unit on AWS ({REGION} prices of {PRICES_DATE})")
    table.add_column("unit", no_wrap=True)
    table.add_column("runs", justify="right")
    for header in (*_SERVICES.values(), "total"):
        table.add_column(header, justify="right", no_wrap=True)
    for activity, cost in report.unit_costs.items():
        values = [_usd(getattr(cost, name)) for name in _SERVICES]
        table.add_row(activity, f"{cost.measured_units:,}", *values, _usd(cost.total_usd))
    return table


def monthly_table(report: CostReport) -> Table:
    table = Table(title=f"A month of {workload_text(report.workload)}")
    table.add_column("item")
    table.add_column("USD / month", justify="right")
    for item, usd in report.monthly_usd.items():
        table.add_row(item, _usd(usd))
    table.add_row("total", _usd(report.monthly_total_usd), style="bold")
    return table


def recommendations_table(report: CostReport) -> Table:
    table = Table(title="What would lower the bill (measured)")
    for column in ("change", "evidence"):
        table.add_column(column, overflow="fold")
    table.add_column("saves / month", justify="right")
    for found in report.recommendations:
        table.add_row(found.change, found.evidence, _usd(found.saving_usd_month))
    return table


def print_report(report: CostReport) -> None:
    console = Console(width=max(Console().width, 110))
    if not report.unit_costs:
        console.print("the run has processed no subject, trained nothing and served nothing yet")
        return
    console.print(unit_table(report))
    if report.per_million_predictions_rest:
        console.print(
            f"per million predictions: {_usd(report.per_million_predictions_rest)} behind the "
            f"REST API, {_usd(report.per_million_predictions_http)} behind an HTTP API"
        )
    for name, target in report.targets.items():
        verdict = "met" if target["met"] else "MISSED"
        console.print(
            f"target {name}: {_usd(target['usd'])} ≤ {_usd(target['target_usd'])}: {verdict}"
        )
    console.print(monthly_table(report))
    console.print(recommendations_table(report))


@click.command("cost")
@click.option("--subjects-per-month", default=200, show_default=True, type=click.IntRange(0),
              help="Subjects processed a month in the projected workload.")  # fmt: skip
@click.option("--trainings-per-month", default=8, show_default=True, type=click.IntRange(0),
              help="Trainings a month.")  # fmt: skip
@click.option("--predictions-per-month", default=1_000_000, show_default=True,
              type=click.IntRange(0), help="Prediction requests a month.")  # fmt: skip
@json_option
@home_option
def cost(subjects_per_month, trainings_per_month, predictions_per_month, as_json, home) -> None:
    """Project the AWS bill of what the running cloud has done: per subject processed, per
    training, per million predictions, and per month of a stated workload, from the measured
    Lambda REPORT lines, Step Functions transitions, S3 requests and logs.

    \b
    Example:
      p300 cost --subjects-per-month 500 --predictions-per-month 2000000
    """
    workload = Workload(
        subjects_per_month=subjects_per_month,
        trainings_per_month=trainings_per_month,
        predictions_per_month=predictions_per_month,
    )
    try:
        with aws_errors("measuring the run"), usage_errors():
            report = cost_report(home, workload)
    except CloudNotRunning as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        echo_json(report_dict(report))
    else:
        print_report(report)
