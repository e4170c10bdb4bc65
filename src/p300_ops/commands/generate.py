"""`p300 generate`: synthetic subjects straight into the landing zone."""

import dataclasses
import io

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from p300_aws.names import LANDING_BUCKET
from p300_ops.commands import keys
from p300_ops.commands.common import aws_errors, cloud_clients, echo_json, home_option, json_option
from p300_ops.commands.upload import TRANSFER_CONFIG

FORMS = ("system-a", "ours")


def system_a_parquet_bytes(recording) -> bytes:
    """The `p300.types.RawRecording` as System A's Parquet file (see `write_system_a_parquet`)."""
    from p300.synthetic import write_system_a_parquet  # the science stack loads only when used

    buffer = io.BytesIO()
    write_system_a_parquet(recording, buffer)
    return buffer.getvalue()


def synthetic_object(
    subject_number: int, *, seed: int, duration_s: float, form: str, session: str | None = None
) -> tuple[str, bytes]:
    """(landing key, Parquet bytes) of synthetic subject ``subject_number`` (1-based).

    The recording is `p300.synthetic.subject_session`'s, so a seed always gives the same cohort.
    Form ``"system-a"`` writes System A's columns; ``"ours"`` our form with sfreq, stim_item,
    subject and session in the metadata.
    """
    from p300 import synthetic
    from p300.raw_io import recording_to_parquet_bytes

    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, got {form!r}")
    recording = synthetic.subject_session(
        seed=seed, subject_number=subject_number, duration_s=duration_s
    )
    subject = recording.subject
    key = keys.landing_key(f"subject_{subject}_eeg_stim.parquet", subject=subject, session=session)
    if form == "system-a":
        return key, system_a_parquet_bytes(recording)
    return key, recording_to_parquet_bytes(dataclasses.replace(recording, session=session))


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
        try:
            session = keys.label(session, name="--session")
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
    s3 = cloud_clients(home).s3
    written = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=Console(stderr=True), disable=as_json) as progress:
        task = progress.add_task("generating", total=n_subjects)
        for number in range(start, start + n_subjects):
            progress.update(task, description=f"subject {number:02d}")
            key, body = synthetic_object(
                number, seed=seed, duration_s=duration, form=form, session=session
            )
            with aws_errors(f"uploading {key}"):
                s3.upload_fileobj(io.BytesIO(body), LANDING_BUCKET, key, Config=TRANSFER_CONFIG)
            written.append({"subject": f"{number:02d}", "key": key, "bytes": len(body)})
            progress.advance(task)
    if as_json:
        echo_json(written)
        return
    for item in written:
        click.echo(f"s3://{LANDING_BUCKET}/{item['key']}  {item['bytes'] / 1e6:.1f} MB")
