"""`p300 import`: an EEG file in a format MNE reads (EDF/BDF, BrainVision, FIF, EEGLAB) into
the landing contract's Parquet, optionally straight into the landing zone
(`p300_ops.services.recording_import`)."""

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from p300_aws.names import LANDING_BUCKET
from p300_ops.commands.common import aws_errors, home_option, usage_errors
from p300_ops.services import cloud, labels
from p300_ops.services.recording_import import (
    import_file,
    list_file_events,
    parse_event_map,
    upload_imported,
)


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
    if list_events:
        Console().print(events_table(list_file_events(file)))
        return
    if out is None and not do_upload:
        raise click.UsageError("give --out OUT.parquet, --upload, or both (or --list-events)")
    with usage_errors():
        event_map = parse_event_map(events)
        subject = None if subject is None else labels.label(subject, name="--subject")
        session = None if session is None else labels.label(session, name="--session")
    if do_upload and subject is None:
        raise click.UsageError("--upload needs --subject (the landing key names the subject)")
    imported = import_file(
        file, event_map=event_map, subject=subject, session=session,
        channels=channels.split(",") if channels else None,
    )  # fmt: skip
    for warning in imported.warnings:
        click.echo(f"warning {warning}", err=True)
    click.echo(
        f"{imported.n_channels} channels, {imported.sfreq:g} Hz, {imported.duration_s:.1f} s, "
        f"{imported.n_target} target and {imported.n_nontarget} non-target flashes"
    )
    if out is not None:
        out.write_bytes(imported.body)
        click.echo(f"wrote {out} ({len(imported.body) / 1e6:.1f} MB)")
    if do_upload:
        name = out.name if out is not None else f"{file.stem}.parquet"
        with aws_errors(f"uploading {name}"):
            key = upload_imported(
                cloud.connect(home).s3, imported.body, name, subject=subject, session=session
            )
        click.echo(f"uploaded s3://{LANDING_BUCKET}/{key}")
