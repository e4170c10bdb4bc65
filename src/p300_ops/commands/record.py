"""`p300 record --replay FILE`: send a recording through the upload API as a headset would
(`p300_ops.services.recording_replay`)."""

from dataclasses import asdict
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from p300.contract import InvalidRecordingError
from p300_aws.keys import check_study
from p300_aws.names import LANDING_BUCKET
from p300_ops.commands.common import aws_errors, echo_json, home_option, json_option, usage_errors
from p300_ops.services import cloud, labels
from p300_ops.services.recording_replay import (
    ChunkSent,
    load_recording,
    send_recording,
    upload_client,
)
from p300_ops.services.upload_api_client import UploadApiError


@click.command()
@home_option
@click.option(
    "--replay",
    "path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Recording (raw Parquet) to send as if it were being recorded now.",
)
@click.option("--subject", required=True, help="Subject id, e.g. 03.")
@click.option("--session", required=True, help="Session id, e.g. 1 (key session_01).")
@click.option("--study", help="The study it belongs to (default: its file's, else system-a).")
@click.option(
    "--chunk-seconds",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="Seconds of recording per chunk (one Parquet row group).",
)
@click.option(
    "--speed",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Pace as a factor of real time (1: real time); default: as fast as possible.",
)
@click.option("--file-name", help="Name of the landed file (default: recording-<time>-<id>).")
@click.option(
    "--part-mib",
    type=click.IntRange(5, 512),
    default=5,
    show_default=True,
    help="Upload part size in MiB (S3's minimum is 5).",
)
@click.option("--api-url", help="Upload API stage URL (default: the running local cloud's).")
@json_option
def record(
    home, path, subject, session, study, chunk_seconds, speed, file_name, part_mib, api_url,
    as_json,
) -> None:  # fmt: skip
    """Stream a recording to the landing zone in time chunks, as a headset collector does.

    Each chunk becomes a Parquet row group; parts of the growing file go straight to S3 through
    presigned URLs of the upload API (API key: $P300_UPLOAD_API_KEY, else read with your AWS
    credentials). Finishing completes the upload and the pipeline ingests the recording; a
    failure aborts it.

    \b
    Examples:
      p300 record --replay rec.parquet --subject 03 --session 1
      p300 record --replay rec.parquet --subject 03 --session 2 --speed 10
      p300 record --replay rec.parquet --subject 01 --session 1 --study speller
    """
    with usage_errors():
        subject = labels.label(subject, name="--subject")
        session = labels.label(session, name="--session")
        study = None if study is None else check_study(study, name="--study")
    try:
        table, sfreq = load_recording(path)
    except InvalidRecordingError as exc:
        raise click.ClickException(f"{path} is not a valid recording: {exc}") from None
    with aws_errors("finding the upload API"):
        client = upload_client(lambda: cloud.connect(home), api_url)
    columns = (
        TextColumn("recording"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f} s  {task.fields[sent]}"),
    )
    with Progress(*columns, console=Console(stderr=True), disable=as_json) as progress:
        task = progress.add_task("record", total=table.num_rows / sfreq, sent="")

        def on_chunk(sent: ChunkSent) -> None:
            summary = f"{sent.part_bytes / 1e6:.1f} MB sent in {sent.parts} part(s)"
            progress.update(task, completed=sent.recorded_s, sent=summary)

        try:
            done = send_recording(
                client, table, sfreq=sfreq, subject=subject, session=session,
                chunk_seconds=chunk_seconds, speed=speed, file_name=file_name, study=study,
                part_size=part_mib * 1024 * 1024, on_chunk=on_chunk,
            )  # fmt: skip
        except UploadApiError as exc:
            raise click.ClickException(f"recording not sent (nothing landed): {exc}") from None
    if as_json:
        echo_json(asdict(done))
        return
    click.echo(
        f"landed s3://{LANDING_BUCKET}/{done.key}: {done.duration_s:.1f} s of recording, "
        f"{done.bytes_sent / 1e6:.2f} MB in {done.parts} part(s); the pipeline ingests it now "
        "(p300 executions list)"
    )
