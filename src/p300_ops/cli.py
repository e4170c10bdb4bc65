"""The `p300` command line: one group, each command a thin call into the library."""

import sys

import click

from p300_ops.commands.alerts import alerts_group
from p300_ops.commands.aliases import deploy_model, promote, rollback, traffic
from p300_ops.commands.backfill import backfill
from p300_ops.commands.birthdate import birthdate
from p300_ops.commands.calibrate import calibrate
from p300_ops.commands.common import home_option
from p300_ops.commands.console import console
from p300_ops.commands.cost import cost
from p300_ops.commands.datasets import datasets_group
from p300_ops.commands.decode import decode
from p300_ops.commands.demo import demo
from p300_ops.commands.evaluate import evaluate
from p300_ops.commands.executions import executions
from p300_ops.commands.generate import generate
from p300_ops.commands.import_cmd import import_command
from p300_ops.commands.keys import keys_group
from p300_ops.commands.layers import layers_group
from p300_ops.commands.record import record
from p300_ops.commands.simulate import simulate
from p300_ops.commands.studies import studies_group
from p300_ops.commands.subjects import subjects
from p300_ops.commands.train import train
from p300_ops.commands.upload import upload
from p300_ops.localcloud import lifecycle, localstack, mlflow_server, postgres
from p300_ops.localcloud.processes import LocalCloudError
from p300_ops.services.cloud import resolve_home
from p300_ops.services.errors import ServiceError


class _Commands(click.Group):
    """The command group: a `ServiceError` from the library becomes one clean CLI error."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ServiceError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Commands)
def main() -> None:
    """Serverless MLOps for P300 EEG brain-computer interfaces on an emulated AWS cloud."""


@main.command()
@home_option
@click.option(
    "--port",
    default=localstack.DEFAULT_PORT,
    show_default=True,
    help="LocalStack port on 127.0.0.1.",
)
@click.option("--mlflow-port", default=mlflow_server.DEFAULT_PORT, show_default=True)
@click.option(
    "--backend",
    type=click.Choice(lifecycle.BACKENDS),
    default="sqlite",
    show_default=True,
    help="MLflow metadata store.",
)
@click.option("--postgres-port", default=postgres.DEFAULT_PORT, show_default=True)
def up(home, port, mlflow_port, backend, postgres_port) -> None:
    """Start LocalStack and MLflow and deploy the CDK app.

    Example: p300 up --port 4566 --backend postgres
    """
    config = lifecycle.CloudConfig(
        home=resolve_home(home),
        localstack_port=port,
        mlflow_port=mlflow_port,
        postgres_port=postgres_port,
        backend=backend,
    )
    try:
        state = lifecycle.up(config, progress=lambda msg: click.echo(msg, err=True))
    except lifecycle.AlreadyRunning as exc:
        click.echo(f"p300 up: {exc}", err=True)
        return
    except LocalCloudError as exc:
        raise click.ClickException(str(exc)) from None
    total = sum(state.timings_s.values())
    click.echo(f"local cloud up in {total:.1f} s")
    click.echo(f"  AWS endpoint   {state.endpoint_url}   (credentials test/test, us-east-1)")
    click.echo(f"  MLflow         {state.tracking_uri}")
    click.echo(f"  state          {state.home}")


@main.command()
@home_option
def down(home) -> None:
    """Stop exactly what `p300 up` started (by PID).

    Example: p300 down
    """
    try:
        stopped = lifecycle.down(resolve_home(home))
    except lifecycle.NothingRunning as exc:
        click.echo(f"p300 down: {exc}", err=True)
        return
    click.echo(f"stopped: {', '.join(stopped)}")


@main.command()
@home_option
def status(home) -> None:
    """Show each component, its PID, port and health (exit status 1 when one is unhealthy).

    Example: p300 status
    """
    rows = lifecycle.status(resolve_home(home))
    if not rows:
        click.echo("the local cloud is not running (p300 up starts it)")
        sys.exit(1)
    for row in rows:
        mark = click.style("ok  ", fg="green") if row.healthy else click.style("FAIL", fg="red")
        pid = str(row.pid) if row.pid else "-"
        port = str(row.port) if row.port else "-"
        click.echo(f"{mark} {row.name:<20} pid {pid:>7}  port {port:>5}  {row.detail}")
    if not all(row.healthy for row in rows):
        sys.exit(1)


@main.command()
@home_option
@click.argument("component", type=click.Choice(lifecycle.LOG_COMPONENTS), default="localstack")
@click.option("-n", "--lines", default=50, show_default=True)
def logs(home, component, lines) -> None:
    """Show the last lines of a component's log (Lambda logs come from CloudWatch Logs).

    Example: p300 logs lambda -n 100
    """
    try:
        click.echo(lifecycle.logs(resolve_home(home), component, lines=lines))
    except LocalCloudError as exc:
        raise click.ClickException(str(exc)) from None


main.add_command(upload)
main.add_command(record)
main.add_command(generate)
main.add_command(subjects)
main.add_command(studies_group)
main.add_command(executions)
main.add_command(train)
main.add_command(calibrate)
main.add_command(datasets_group)
main.add_command(import_command)
main.add_command(layers_group)
main.add_command(simulate)
main.add_command(birthdate)
main.add_command(decode)
main.add_command(evaluate)
main.add_command(demo)
main.add_command(deploy_model)
main.add_command(promote)
main.add_command(rollback)
main.add_command(traffic)
main.add_command(alerts_group)
main.add_command(console)
main.add_command(keys_group)
main.add_command(cost)
main.add_command(backfill)
