"""What every pipeline command shares: the `--home` option, clients of the running cloud,
clean errors and JSON output."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import click
from botocore.exceptions import BotoCoreError, ClientError

from p300_ops import paths
from p300_ops.localcloud import lifecycle, localstack

NOT_RUNNING = "the local cloud is not running: run `p300 up`"

home_option = click.option(
    "--home",
    type=click.Path(file_okay=False),
    default=None,
    help="State directory (default: $P300_HOME, else .p300 in the repository).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


class CloudNotRunning(click.ClickException):
    """No running local cloud in the state home."""


@dataclass(frozen=True)
class CloudClients:
    """boto3 clients of the running local cloud."""

    s3: object
    stepfunctions: object
    endpoint_url: str


def resolve_home(home: str | None) -> Path:
    """The state home: ``home`` when given, else `paths.state_home()`."""
    return Path(home).resolve() if home else paths.state_home()


def running_cloud(home: str | Path | None) -> lifecycle.CloudState:
    """What `p300 up` started in ``home``; `CloudNotRunning` when LocalStack is not running."""
    state = lifecycle.CloudState.load(resolve_home(home))
    if state is None or not state.servers["localstack"].is_running():
        raise CloudNotRunning(f"{NOT_RUNNING} (state home {resolve_home(home)})")
    return state


def cloud_clients(home: str | None) -> CloudClients:
    """Clients of the LocalStack `p300 up` started in ``home``; `CloudNotRunning` if it is down."""
    state = running_cloud(home)
    port = state.localstack_port
    return CloudClients(
        s3=localstack.aws_client("s3", port),
        stepfunctions=localstack.aws_client("stepfunctions", port),
        endpoint_url=state.endpoint_url,
    )


@contextmanager
def aws_errors(action: str) -> Iterator[None]:
    """Turn AWS client errors raised while doing ``action`` into one clean CLI error."""
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise click.ClickException(
            f"{action} failed: {error.get('Code', 'error')}: {error.get('Message', exc)}"
        ) from None
    except BotoCoreError as exc:
        raise click.ClickException(f"{action} failed: {exc}") from None


def echo_json(document: object) -> None:
    """Print ``document`` as indented JSON (datetimes and paths as text)."""
    click.echo(json.dumps(document, indent=2, default=str))
