"""`p300 import`: a lab recording (BCI2000 .dat, OpenViBE .gdf, one recording of a BIDS dataset,
or EDF/BDF, BrainVision, FIF, EEGLAB through MNE) into the landing contract's Parquet, optionally
straight into the landing zone with its study (`p300_ops.services.recording_import`)."""

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from p300_aws.keys import check_study
from p300_aws.names import LANDING_BUCKET
from p300_ops.commands.common import aws_errors, home_option, study_errors, usage_errors
from p300_ops.services import cloud, labels
from p300_ops.services.recording_import import (
    FORMATS,
    ImportedRecording,
    import_bids_recording,
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
@click.argument(
    "file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--format",
    "file_format",
    type=click.Choice(FORMATS),
    default="auto",
    show_default=True,
    help="Importer: auto takes bci2000 for .dat, openvibe-gdf for .gdf, mne for the rest.",
)
@click.option(
    "--bids",
    "bids_root",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A BIDS dataset's folder (instead of FILE): with --subject, --task, --session, --run.",
)
@click.option("--task", help="BIDS task of the recording, e.g. p300.")
@click.option("--run", help="BIDS run, when the subject has several.")
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
@click.option("--study", help="The study it belongs to (checked before --upload sends it).")
@click.option("--list-events", is_flag=True, help="Only list the events the file holds.")
@click.option("--upload", "do_upload", is_flag=True, help="Upload the result to the landing zone.")
@home_option
def import_command(file, file_format, bids_root, task, run, out, events, channels, subject,
                   session, study, list_events, do_upload, home) -> None:  # fmt: skip
    """Convert a lab recording to the landing contract, and upload it with its study.

    BCI2000 .dat and OpenViBE .gdf files keep their stimulus codes (target flags, row/column
    groups) and speller metadata; other formats take an event map. With --study (default:
    system-a) --upload first checks that the study's profile fits the recording (Nyquist,
    epoch window, montage) and sends nothing when it does not.

    \b
    Examples:
      p300 import bp2calib.dat --subject 01 --session 1 --study speller --upload
      p300 import rec.gdf --subject 02 --out rec.parquet
      p300 import --bids ds/ --subject 01 --session 1 --task p300 --study lab-b --upload
      p300 import rec.vhdr --list-events
      p300 import rec.vhdr --event "Stimulus/S  2=target" --event "Stimulus/S  1=nontarget" \\
          --subject 03 --out rec.parquet --upload
    """
    if (file is None) == (bids_root is None):
        raise click.UsageError("give FILE or --bids ROOT (one of them)")
    if list_events:
        if file is None:
            raise click.UsageError("--list-events needs FILE")
        Console().print(events_table(list_file_events(file)))
        return
    if out is None and not do_upload:
        raise click.UsageError("give --out OUT.parquet, --upload, or both (or --list-events)")
    with usage_errors():
        event_map = parse_event_map(events)
        subject = None if subject is None else labels.label(subject, name="--subject")
        session = None if session is None else labels.label(session, name="--session")
        study = None if study is None else check_study(study, name="--study")
    if do_upload and subject is None:
        raise click.UsageError("--upload needs --subject (the landing key names the subject)")
    chosen = channels.split(",") if channels else None
    if bids_root is not None:
        if subject is None or task is None:
            raise click.UsageError("--bids needs --subject and --task")
        imported = import_bids_recording(
            bids_root, subject=subject, task=task, session=session, run=run,
            event_map=event_map, channels=chosen, study=study,
        )  # fmt: skip
    else:
        with usage_errors():
            imported = import_file(
                file, file_format=file_format, event_map=event_map, subject=subject,
                session=session, channels=chosen, study=study,
            )  # fmt: skip
    _describe(imported)
    if out is not None:
        out.write_bytes(imported.body)
        click.echo(f"wrote {out} ({len(imported.body) / 1e6:.1f} MB)")
    if do_upload:
        name = out.name if out is not None else _landed_name(file, subject, task)
        with aws_errors(f"uploading {name}"), study_errors():
            key = upload_imported(
                cloud.connect(home).s3, imported, name, subject=subject, session=session,
                study=study,
            )  # fmt: skip
        click.echo(f"uploaded s3://{LANDING_BUCKET}/{key}")


def _landed_name(file: Path | None, subject: str, task: str | None) -> str:
    return f"{file.stem}.parquet" if file is not None else f"sub-{subject}_task-{task}.parquet"


def _describe(imported: ImportedRecording) -> None:
    for warning in imported.warnings:
        click.echo(f"warning {warning}", err=True)
    source = imported.metadata.get("source_format")
    click.echo(
        f"{imported.n_channels} channels, {imported.sfreq:g} Hz, {imported.duration_s:.1f} s, "
        f"{imported.n_target} target and {imported.n_nontarget} non-target flashes"
        + (f" ({source})" if source else "")
    )
    text = imported.metadata.get("text_to_spell")
    if text:
        click.echo(f"speller text: {text!r}")
