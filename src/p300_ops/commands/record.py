"""`p300 record --replay FILE`: send a recording through the upload API as a headset would."""

import contextlib
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import click
import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from p300 import raw_io
from p300.contract import InvalidRecordingError
from p300_aws.names import LANDING_BUCKET
from p300_ops import recording, upload_api
from p300_ops.commands import keys
from p300_ops.commands.common import aws_errors, echo_json, home_option, json_option, running_cloud
from p300_ops.localcloud import localstack
from p300_ops.upload_api import MultipartUpload, UploadApiError, UploadClient

#: Where a collector finds the API key when it is not read with AWS credentials.
API_KEY_VARIABLE = "P300_UPLOAD_API_KEY"


@dataclass(frozen=True)
class Recorded:
    """A finished replay: the landing key, parts and bytes sent, recording length in s."""

    key: str
    parts: int
    bytes_sent: int
    duration_s: float


def load_recording(path: Path) -> tuple[pa.Table, float]:
    """The recording at ``path`` as stored (one row per sample) and its sampling rate in Hz.

    Raises
    ------
    p300.contract.InvalidRecordingError
        When the file is not a valid raw recording: it is refused before anything is sent.
    """
    sfreq = raw_io.read_recording(path).sfreq
    return pq.read_table(path), sfreq


def send_recording(
    client: UploadClient,
    table: pa.Table,
    *,
    sfreq: float,
    subject: str,
    session: str,
    chunk_seconds: float,
    speed: float | None,
    file_name: str | None = None,
    part_size: int = recording.MIN_PART_BYTES,
    on_chunk: Callable[[recording.ChunkSent], None] = lambda _: None,
) -> Recorded:
    """Stream ``table`` (shape (n_times, n_columns), ``sfreq`` Hz) to the landing zone as one
    multipart upload (see `p300_ops.recording.replay` for the options); a replay that fails
    midway aborts its upload, so no partial object ever lands.

    Raises
    ------
    UploadApiError
        When the API or S3 refuses a request (the upload is then aborted).
    """
    upload = client.start(subject=subject, session=session, file_name=file_name)
    etags: list[str] = []
    sent_bytes = [0]

    def send_part(number: int, data: bytes) -> None:
        etags.append(client.send_part(upload, number, data))
        sent_bytes[0] += len(data)

    try:
        recording.replay(
            table,
            sfreq=sfreq,
            chunk_seconds=chunk_seconds,
            speed=speed,
            send_part=send_part,
            part_size=part_size,
            on_chunk=on_chunk,
        )
        client.complete(upload, etags)
    except BaseException:
        _abort_quietly(client, upload)
        raise
    return Recorded(upload.key, len(etags), sent_bytes[0], table.num_rows / sfreq)


def _abort_quietly(client: UploadClient, upload: MultipartUpload) -> None:
    # The replay's own error is the one to report; a failed abort leaves only an unfinished
    # multipart upload, which never becomes an object.
    with contextlib.suppress(UploadApiError):
        client.abort(upload)


def upload_client(home: str | None, url: str | None) -> UploadClient:
    """A client of the running cloud's upload API; the key from $P300_UPLOAD_API_KEY, else read
    with the AWS credentials of the local cloud."""
    key = os.environ.get(API_KEY_VARIABLE)
    if url is None or not key:
        state = running_cloud(home)
        apigateway = localstack.aws_client("apigateway", state.localstack_port)
        with aws_errors("finding the upload API"):
            try:
                url = url or upload_api.api_url(apigateway, state.endpoint_url)
                key = key or upload_api.api_key(apigateway)
            except UploadApiError as exc:
                raise click.ClickException(f"{exc} (is the platform deployed?)") from None
    return UploadClient(url, key)


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
    home, path, subject, session, chunk_seconds, speed, file_name, part_mib, api_url, as_json
) -> None:
    """Stream a recording to the landing zone in time chunks, as a headset collector does.

    Each chunk becomes a Parquet row group; parts of the growing file go straight to S3 through
    presigned URLs of the upload API (API key: $P300_UPLOAD_API_KEY, else read with your AWS
    credentials). Finishing completes the upload and the pipeline ingests the recording; a
    failure aborts it.

    \b
    Examples:
      p300 record --replay rec.parquet --subject 03 --session 1
      p300 record --replay rec.parquet --subject 03 --session 2 --speed 10
    """
    try:
        subject = keys.label(subject, name="--subject")
        session = keys.label(session, name="--session")
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        table, sfreq = load_recording(path)
    except InvalidRecordingError as exc:
        raise click.ClickException(f"{path} is not a valid recording: {exc}") from None
    client = upload_client(home, api_url)
    columns = (
        TextColumn("recording"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f} s  {task.fields[sent]}"),
    )
    with Progress(*columns, console=Console(stderr=True), disable=as_json) as progress:
        task = progress.add_task("record", total=table.num_rows / sfreq, sent="")

        def on_chunk(sent: recording.ChunkSent) -> None:
            summary = f"{sent.part_bytes / 1e6:.1f} MB sent in {sent.parts} part(s)"
            progress.update(task, completed=sent.recorded_s, sent=summary)

        try:
            done = send_recording(
                client, table, sfreq=sfreq, subject=subject, session=session,
                chunk_seconds=chunk_seconds, speed=speed, file_name=file_name,
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
