"""`p300 console`: the web console of the local cloud, on 127.0.0.1."""

import click

from p300_ops.commands.common import home_option
from p300_ops.services import cloud

DEFAULT_PORT = 8300


@click.command("console")
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True,
              help="Port on 127.0.0.1 (0: any free port).")  # fmt: skip
@home_option
def console(port, home) -> None:
    """Serve a read-only web console of the local cloud on 127.0.0.1 and print its URL:
    executions drawn as state graphs, subjects and their ERPs, models, traffic, alerts.

    \b
    Example:
      p300 console --port 8300
    """
    from p300_ops.console import server  # uvicorn and the pages: only this command needs them

    try:
        cloud.running_cloud(home)
    except cloud.CloudNotRunning as exc:
        click.echo(f"p300 console: {exc}; the pages say so until it runs", err=True)

    def announce(url: str) -> None:
        click.echo(f"p300 console: {url}  (Ctrl-C stops it)")

    try:
        server.serve(home, port=port, announce=announce)
    except server.PortInUse as exc:
        raise click.ClickException(str(exc)) from None
