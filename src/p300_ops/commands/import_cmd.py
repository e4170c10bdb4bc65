"""`p300 import`: an EEG file in a format MNE reads (EDF/BDF, BrainVision, FIF, EEGLAB) into
the landing contract's Parquet, optionally straight into the landing zone."""

import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from p300_aws.names import LANDING_BUCKET
from p300_ops.commands import keys
from p300_ops.commands.common import aws_errors, cloud_clients, home_option
from p300_ops.commands.upload import TRANSFER_CONFIG

_CODES = {"1": 1, "2": 2, "nontarget": 1, "non-target": 1, "target": 2}


def parse_event_map(pairs: Sequence[str]) -> dict[str, int] | None:
    """``("target=2", "Stimulus/S  1=nontarget")`` → ``{"target": 2, "Stimulus/S  1": 1}``.

    The name is everything before the last ``=``; the code is 1/nontarget or 2/target. None when
    ``pairs`` is empty (the importer's default map then applies).
    """
    if not pairs:
        return None
    mapping = {}
    for pair in pairs:
        name, sep, code = pair.rpartition("=")
        if not sep or not name or code.strip().lower() not in _CODES:
            raise ValueError(
                f"--event must be NAME=CODE with CODE 1, 2, nontarget or target, got {pair!r}"
            )
        mapping[name] = _CODES[code.strip().lower()]
    return mapping


def events_table(events: dict[str, int]) -> Table:
    """Event names and how often each occurs."""
    table = Table("event", "count")
    for name, count in events.items():
        table.add_row(repr(name), str(count))
    return table


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="Parquet file to write."
)
@click.option(
    "--event",
    "events",
    multiple=True,
    metavar="NAME=CODE",
    help="Event → stim code (1/nontarget, 2/target); repeatable. Default: target=2 nontarget=1.",
)
@click.option("--channels", help="Channels to keep, in order, e.g. Fz,Cz,Pz (default: all EEG).")
@click.option("--subject", help="Subject id, e.g. 03 (stored in the file and in the key).")
@click.option("--session", help="Session id, e.g. 2.")
@click.option("--list-events", is_flag=True, help="Only list the events the file holds.")
@click.option("--upload", "do_upload", is_flag=True, help="Upload the result to the landing zone.")
@home_option
def import_command(file, out, events, channels, subject, session, list_events, do_upload,
                   home) -> None:  # fmt: skip
    """Convert an EDF/BDF, BrainVision, FIF or EEGLAB recording to the landing contract.

    \b
    Examples:
      p300 import rec.vhdr --list-events
      p300 import rec.vhdr --event "Stimulus/S  2=target" --event "Stimulus/S  1=nontarget" \\
          --subject 03 --out rec.parquet --upload
    """
    from p300 import importers  # MNE loads only for this command

    if list_events:
        with _library_errors(file):
            Console().print(events_table(importers.list_events(file)))
        return
    if out is None and not do_upload:
        raise click.UsageError("give --out OUT.parquet, --upload, or both (or --list-events)")
    try:
        event_map = parse_event_map(events)
        subject = None if subject is None else keys.label(subject, name="--subject")
        session = None if session is None else keys.label(session, name="--session")
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if do_upload and subject is None:
        raise click.UsageError("--upload needs --subject (the landing key names the subject)")
    with _library_errors(file):
        recording = importers.import_recording(
            file, event_map=event_map, subject=subject, session=session,
            channels=channels.split(",") if channels else None,
        )  # fmt: skip
    body = _checked_parquet(recording)
    _describe(recording)
    if out is not None:
        out.write_bytes(body)
        click.echo(f"wrote {out} ({len(body) / 1e6:.1f} MB)")
    if do_upload:
        name = out.name if out is not None else f"{file.stem}.parquet"
        key = keys.landing_key(name, subject=subject, session=session)
        s3 = cloud_clients(home).s3
        with aws_errors(f"uploading {key}"):
            s3.upload_fileobj(io.BytesIO(body), LANDING_BUCKET, key, Config=TRANSFER_CONFIG)
        click.echo(f"uploaded s3://{LANDING_BUCKET}/{key}")


@contextmanager
def _library_errors(file: Path) -> Iterator[None]:
    """Turn what MNE or the importer raise about ``file`` into one clean CLI error."""
    try:
        yield
    except (ValueError, OSError, RuntimeError) as exc:
        raise click.ClickException(f"cannot import {file}: {exc}") from None


def _checked_parquet(recording) -> bytes:
    """The recording as Parquet, refused here when the pipeline would quarantine it."""
    from p300.raw_io import recording_to_parquet_bytes, validate_recording_bytes

    body = recording_to_parquet_bytes(recording)
    report = validate_recording_bytes(body)
    for problem in report.warnings:
        click.echo(f"warning {problem.code}: {problem.message}", err=True)
    if not report.ok:
        lines = "; ".join(f"{p.code}: {p.message}" for p in report.errors)
        raise click.ClickException(f"the result breaks the landing contract: {lines}")
    return body


def _describe(recording) -> None:
    n_target = int((recording.stim == 2).sum())
    n_nontarget = int((recording.stim == 1).sum())
    click.echo(
        f"{len(recording.ch_names)} channels, {recording.sfreq:g} Hz, "
        f"{recording.n_times / recording.sfreq:.1f} s, {n_target} target and "
        f"{n_nontarget} non-target flashes"
    )
