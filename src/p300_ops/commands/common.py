"""What every command shares: the `--home` and `--json` options, clean errors, JSON output."""

import json
from collections.abc import Iterator
from contextlib import contextmanager

import click
from botocore.exceptions import BotoCoreError, ClientError

from p300_aws.studies import StudyExistsError, UnknownStudyError

home_option = click.option(
    "--home",
    type=click.Path(file_okay=False),
    default=None,
    help="State directory (default: $P300_HOME, else .p300 in the repository).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


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


@contextmanager
def usage_errors(prefix: str = "") -> Iterator[None]:
    """Turn a `ValueError` about the options into a usage error (exit status 2)."""
    try:
        yield
    except ValueError as exc:
        raise click.UsageError(f"{prefix}{exc}") from None


def echo_json(document: object) -> None:
    """Print ``document`` as indented JSON (datetimes and paths as text)."""
    click.echo(json.dumps(document, indent=2, default=str))


@contextmanager
def study_errors() -> Iterator[None]:
    """Turn an unknown study or a study that exists already into one clean CLI error."""
    try:
        yield
    except (UnknownStudyError, StudyExistsError) as exc:
        raise click.ClickException(str(exc)) from None
