"""`p300 generate`: synthetic subjects straight into the landing zone."""

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from p300_aws.names import LANDING_BUCKET
from p300_ops.commands.common import aws_errors, echo_json, home_option, json_option, usage_errors
from p300_ops.services import cloud, labels
from p300_ops.services.synthetic_subjects import FORMS, generate_subjects


@click.command()
@home_option
@click.option("--subjects", "n_subjects", type=click.IntRange(1, 99), default=10, show_default=True)
@click.option("--duration", type=click.FloatRange(10, 3600), default=600.0, show_default=True,
              help="Length of each recording in s.")  # fmt: skip
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--start", type=click.IntRange(1, 99), default=1, show_default=True,
              help="Number of the first subject.")  # fmt: skip
@click.option("--form", type=click.Choice(FORMS), default="system-a", show_default=True)
@click.option("--session", help="Session label, e.g. 2 (key subject_XX/session_02/...).")
@json_option
def generate(home, n_subjects, duration, seed, start, form, session, as_json) -> None:
    """Generate synthetic P300 subjects and upload them into the landing zone.

    \b
    Example:
      p300 generate --subjects 5 --start 6 --duration 300 --seed 42
    """
    if start + n_subjects - 1 > 99:
        raise click.UsageError(
            f"--start + --subjects - 1 must be at most 99, got {start + n_subjects - 1}"
        )
    if session is not None:
        with usage_errors():
            session = labels.label(session, name="--session")
    s3 = cloud.connect(home).s3
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=Console(stderr=True), disable=as_json) as progress:
        task = progress.add_task("generating", total=n_subjects)

        def on_subject(number: int) -> None:
            progress.update(task, description=f"subject {number:02d}", completed=number - start)

        with aws_errors("uploading the synthetic subjects"):
            written = generate_subjects(
                s3, range(start, start + n_subjects), seed=seed, duration_s=duration, form=form,
                session=session, on_subject=on_subject,
            )  # fmt: skip
        progress.update(task, completed=n_subjects)
    if as_json:
        echo_json(written)
        return
    for item in written:
        click.echo(f"s3://{LANDING_BUCKET}/{item['key']}  {item['bytes'] / 1e6:.1f} MB")
