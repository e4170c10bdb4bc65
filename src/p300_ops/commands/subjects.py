"""`p300 subjects`: every subject/session and how far through the pipeline it got."""

from collections.abc import Sequence
from dataclasses import asdict

import click
from rich.console import Console
from rich.table import Column, Table

from p300_aws.keys import check_study
from p300_aws.names import LANDING_BUCKET
from p300_ops.commands.common import (
    aws_errors,
    echo_json,
    home_option,
    json_option,
    study_errors,
    usage_errors,
)
from p300_ops.services import cloud
from p300_ops.services.subject_status import SubjectStatus, list_subjects

_COLOURS = {
    "processed": "green",
    "rejected": "magenta",
    "raw": "yellow",
    "landed": "cyan",
    "quarantined": "red",
}


def statuses_table(statuses: Sequence[SubjectStatus]) -> Table:
    """A rich table: one line per subject/session."""
    # Ids and the stage never wrap: the notes (quarantine reasons) take what width is left.
    ids = [Column(title, no_wrap=True) for title in ("study", "subject", "session", "stage")]
    table = Table(*ids, "raw (version, sha256)", "features", "notes")
    for s in statuses:
        raw = f"{s.raw_version_id or '-'}, {(s.raw_sha256 or '-')[:12]}" if s.raw_key else "-"
        notes = [f"landed: {key}" for key in s.landed]
        notes += [f"quarantined {q.landing_key}: {q.code}: {q.message}" for q in s.quarantined]
        if s.rejection is not None:
            notes.append(f"rejected: {s.rejection.code}: {s.rejection.message}")
        table.add_row(
            s.study,
            s.subject,
            s.session or "-",
            f"[{_COLOURS[s.stage]}]{s.stage}[/]",
            raw,
            s.features if s.raw_key else "-",
            "\n".join(notes),
        )
    return table


@click.command()
@click.option("--study", help="Only this study's subjects, e.g. speller.")
@home_option
@json_option
def subjects(study, home, as_json) -> None:
    """Show every subject/session of every study: landed, raw, processed, rejected or
    quarantined.

    Processed means the features are current: made from the current raw object (their
    raw-sha256 matches its sha256) with the parameters of the current profile of its study,
    the test the pipeline itself makes before it recomputes them. Rejected means
    preprocessing refused the recording with that profile (a profile that does not fit it, or
    no usable epochs left): it is not retried until the recording or the profile changes.

    \b
    Example:
      p300 subjects --study speller --json
    """
    with usage_errors():
        study = None if study is None else check_study(study, name="--study")
    connected = cloud.connect(home)
    with aws_errors("listing the buckets"), study_errors():
        statuses = list_subjects(connected.s3, study=study)
    if as_json:
        echo_json([asdict(s) for s in statuses])
    elif not statuses:
        click.echo(f"no subjects yet: upload to s3://{LANDING_BUCKET} (p300 upload, p300 generate)")
    else:
        Console().print(statuses_table(statuses))
