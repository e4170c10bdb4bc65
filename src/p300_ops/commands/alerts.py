"""`p300 alerts`: the alerts raised by drift checks and the health probe, and the alarms' states;
`p300 alerts probe`: run the health probe now (`p300_ops.services.monitoring`)."""

import click
from rich.console import Console
from rich.table import Table

from p300_aws.alerts import Alert, summarize_evidence
from p300_ops.commands.common import aws_errors, echo_json, home_option, json_option
from p300_ops.services import cloud
from p300_ops.services.monitoring import ALERT_KINDS, monitoring_state, run_health_probe


def alarms_table(alarms: list[dict]) -> Table:
    table = Table("alarm", "state", "since", "reason", title="Alarms")
    colours = {"OK": "green", "ALARM": "red"}
    for alarm in alarms:
        state = alarm["state"]
        table.add_row(
            alarm["name"],
            f"[{colours.get(state, 'yellow')}]{state}[/]",
            str(alarm["updated"] or "-")[:19],
            alarm["reason"],
        )
    return table


def alerts_table(alerts: list[Alert]) -> Table:
    table = Table("raised at (UTC)", "kind", "subject", "evidence", title="Alerts, newest first")
    for alert in alerts:
        table.add_row(
            alert.raised_at[:19].replace("T", " "),
            alert.kind,
            alert.subject,
            summarize_evidence(alert.evidence),
        )
    return table


def probe_table(report: dict) -> Table:
    table = Table("alias", "state", "HTTP", "latency ms", "model version", "detail")
    colours = {"ok": "green", "failing": "red"}
    for alias in report["aliases"]:
        state = alias["state"]
        table.add_row(
            alias["alias"],
            f"[{colours.get(state, 'yellow')}]{state}[/]",
            str(alias["status_code"] or "-"),
            "-" if alias["latency_ms"] is None else f"{alias['latency_ms']:.0f}",
            alias["model_version"] or "-",
            alias["detail"],
        )
    return table


@click.group("alerts", invoke_without_command=True)
@click.option("--kind", type=click.Choice(ALERT_KINDS), help="Only alerts of this kind.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1))
@json_option
@home_option
@click.pass_context
def alerts_group(ctx, kind, limit, as_json, home) -> None:
    """Alerts newest first with their evidence, and the state of each alarm.

    Alerts are raised when incoming data drifts, when preprocessing rejects a recording or keeps
    under half of its epochs (data-quality), and when a serving alias starts failing its health
    probe or recovers. --json prints every alert in full.

    \b
    Example:
      p300 alerts --kind health
      p300 alerts --kind data-quality
      p300 alerts probe
    """
    if ctx.invoked_subcommand is not None:
        return
    connected = cloud.connect(home)
    with aws_errors("reading the alerts"):
        state = monitoring_state(connected.s3, connected.cloudwatch, kind=kind, limit=limit)
    if as_json:
        echo_json(state.to_dict())
        return
    console = Console()
    console.print(alarms_table(state.alarms))
    if state.alerts:
        console.print(alerts_table(state.alerts))
    else:
        console.print("no alerts" + (f" of kind {kind}" if kind else ""))


@alerts_group.command("probe")
@json_option
@home_option
def probe(as_json, home) -> None:
    """Run the health probe now instead of waiting for its minute, and show each alias.

    \b
    Example:
      p300 alerts probe
    """
    connected = cloud.connect(home)
    with aws_errors("running the health probe"):
        report = run_health_probe(connected)
    if as_json:
        echo_json(report)
        return
    console = Console()
    console.print(probe_table(report))
    for key in report["alerts"]:
        console.print(f"alert raised: {key}")
