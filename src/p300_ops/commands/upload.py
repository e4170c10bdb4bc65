"""`p300 upload`: Parquet recordings into the landing zone, which starts the ingest pipeline."""

from collections.abc import Sequence
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from p300_aws.names import LANDING_BUCKET
from p300_ops.commands.common import (
    echo_json,
    home_option,
    json_option,
    study_errors,
    usage_errors,
)
from p300_ops.services import cloud
from p300_ops.services.landing_uploads import (
    PlannedUpload,
    Rejected,
    UploadPlan,
    UploadReport,
    plan_uploads,
    upload_planned,
)


@click.command()
@home_option
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--subject", help="Subject of files not below a subject_XX folder, e.g. 03.")
@click.option("--session", help="Session, e.g. 2 (key subject_XX/session_02/...).")
@click.option(
    "--study",
    help="The study they belong to (key study_<name>/...; default: the file's, else system-a).",
)
@json_option
def upload(home, sources, subject, session, study, as_json) -> None:
    """Upload Parquet recordings (files or folders) into the landing zone.

    Files below a subject_XX folder keep System A's keys (subject_01/subject_01_eeg_stim.parquet);
    others go to subject_<S>/[session_<N>/]<file name>, S from --subject or the file's metadata.
    With --study every key starts with study_<name>/ and the pipeline processes the files with
    that study's profile (`p300 studies list`); without, a file's study is its "study" metadata,
    else system-a.

    \b
    Examples:
      p300 upload data/brain_invaders/
      p300 upload rec.parquet --subject 03 --session 2
      p300 upload run1.parquet --study speller --subject 01 --session 1
    """
    with usage_errors():
        plan = plan_uploads(sources, subject=subject, session=session, study=study)
    with study_errors():
        report = _upload_with_progress(home, plan, study=study, quiet=as_json)
    if as_json:
        echo_json(report.to_dict())
    else:
        _print_result(report.uploaded, report.rejected)
    if report.rejected:
        raise click.ClickException(f"{len(report.rejected)} path(s) not uploaded (reasons above)")


def _upload_with_progress(home, plan: UploadPlan, *, study, quiet: bool) -> UploadReport:
    if not plan.uploads:  # nothing to send: no cloud needed to say so
        return UploadReport([], plan.rejected)
    s3 = cloud.connect(home).s3
    columns = (TextColumn("uploading"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=Console(stderr=True), disable=quiet) as progress:
        task = progress.add_task("upload", total=sum(u.size for u in plan.uploads))
        return upload_planned(s3, plan, study=study, on_bytes=lambda n: progress.advance(task, n))


def _print_result(done: Sequence[PlannedUpload], rejected: Sequence[Rejected]) -> None:
    console = Console()
    if done:
        table = Table("file", f"s3://{LANDING_BUCKET}/…", "MB", title="uploaded")
        for u in done:
            table.add_row(str(u.path), u.key, f"{u.size / 1e6:.1f}")
        console.print(table)
    for r in rejected:
        Console(stderr=True).print(f"[red]not uploaded[/red] {r.path}: {r.reason}")
