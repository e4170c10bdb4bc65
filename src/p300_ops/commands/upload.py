"""`p300 upload`: Parquet recordings into the landing zone, which starts the ingest pipeline."""

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import click
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from p300_aws import keys as layout
from p300_aws.errors import BadKeyError
from p300_aws.names import LANDING_BUCKET
from p300_ops.commands import keys
from p300_ops.commands.common import cloud_clients, echo_json, home_option, json_option

_SUBJECT_DIR = re.compile(r"subject_[A-Za-z0-9][A-Za-z0-9-]*")
_PARQUET_MAGIC = b"PAR1"
#: boto3's managed transfer sends files above 16 MiB in 16 MiB parts.
TRANSFER_CONFIG = TransferConfig(
    multipart_threshold=16 * 1024 * 1024, multipart_chunksize=16 * 1024 * 1024
)


@dataclass(frozen=True)
class PlannedUpload:
    path: Path
    key: str
    size: int


@dataclass(frozen=True)
class Rejected:
    path: Path
    reason: str


@dataclass
class UploadPlan:
    uploads: list[PlannedUpload] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


def plan_uploads(
    sources: Sequence[Path], *, subject: str | None = None, session: str | None = None
) -> UploadPlan:
    """Decide the landing key of every Parquet file under ``sources``; reject what cannot go.

    A file below a folder named ``subject_XX`` keeps its key from that folder on (System A's
    layout, e.g. ``subject_01/subject_01_eeg_stim.parquet``); any other file goes to
    ``subject_<subject>/[session_<session>/]<file name>``, ``subject`` defaulting to the file's
    ``subject`` metadata. Folders are searched recursively
    for ``*.parquet``. Missing paths, files that are not Parquet, keys that disagree with
    ``subject``/``session`` and duplicate keys are rejected with a reason.

    Raises
    ------
    ValueError
        When ``subject`` or ``session`` is not a label of letters and digits.
    """
    subject = None if subject is None else keys.label(subject, name="--subject")
    session = None if session is None else keys.label(session, name="--session")
    plan = UploadPlan()
    taken: dict[str, Path] = {}
    for source in sources:
        if not source.exists():
            plan.rejected.append(Rejected(source, "no such file or folder"))
            continue
        files = sorted(source.rglob("*.parquet")) if source.is_dir() else [source]
        if not files:
            plan.rejected.append(Rejected(source, "folder holds no .parquet files"))
        for file in files:
            outcome = _plan_file(file.resolve(), subject=subject, session=session)
            if isinstance(outcome, PlannedUpload) and outcome.key in taken:
                outcome = Rejected(file, f"same landing key {outcome.key} as {taken[outcome.key]}")
            if isinstance(outcome, Rejected):
                plan.rejected.append(Rejected(file, outcome.reason))
            else:
                taken[outcome.key] = file
                plan.uploads.append(PlannedUpload(file, outcome.key, outcome.size))
    return plan


def _plan_file(path: Path, *, subject: str | None, session: str | None) -> PlannedUpload | Rejected:
    problem = _not_parquet(path)
    if problem:
        return Rejected(path, problem)
    try:
        key = _key_from_layout(path, session=session) or keys.landing_key(
            path.name, subject=_subject_of(path, subject), session=session
        )
    except ValueError as exc:
        return Rejected(path, str(exc))
    try:
        parsed = layout.parse_landing_key(key)
    except BadKeyError as exc:
        return Rejected(path, str(exc))
    if subject is not None and parsed.subject != subject:
        return Rejected(
            path, f"its folder says subject {parsed.subject} but --subject is {subject}"
        )
    if session is not None and parsed.session not in (None, session):
        return Rejected(
            path, f"its folder says session {parsed.session} but --session is {session}"
        )
    return PlannedUpload(path, key, path.stat().st_size)


def _not_parquet(path: Path) -> str | None:
    if path.suffix.lower() != ".parquet":
        return f"not a .parquet file (suffix {path.suffix or 'none'!r})"
    with path.open("rb") as file:
        head = file.read(4)
        file.seek(max(path.stat().st_size - 4, 0))
        tail = file.read(4)
    if head != _PARQUET_MAGIC or tail != _PARQUET_MAGIC:
        return "not a Parquet file (no PAR1 marker at its start and end)"
    return None


def _key_from_layout(path: Path, *, session: str | None) -> str | None:
    """The key from the nearest ``subject_XX`` folder above ``path`` on; None when there is none."""
    for depth, folder in enumerate(path.parents):
        if _SUBJECT_DIR.fullmatch(folder.name):
            inner = path.parts[len(path.parts) - depth - 2 :]
            if session is not None and len(inner) == 2:
                inner = (inner[0], f"session_{session}", inner[1])
            return "/".join(inner)
    return None


def _subject_of(path: Path, subject: str | None) -> str:
    """``subject``, else the ``subject`` of the file's Parquet metadata (our form)."""
    import pyarrow.parquet as pq  # loaded only when a file needs it

    if subject is not None:
        return subject
    metadata = pq.read_schema(path).metadata or {}
    if b"subject" not in metadata:
        raise ValueError(
            "no subject_XX folder above it and no subject in its metadata: pass --subject"
        )
    return keys.label(metadata[b"subject"].decode(), name="its subject metadata")


def upload_files(
    s3, uploads: Sequence[PlannedUpload], *, on_bytes: Callable[[int], None] = lambda _: None
) -> list[Rejected]:
    """Upload each file to the landing zone (multipart when large); return failures."""
    failed = []
    for upload in uploads:
        try:
            s3.upload_file(
                str(upload.path),
                LANDING_BUCKET,
                upload.key,
                Config=TRANSFER_CONFIG,
                Callback=on_bytes,
            )
        except (ClientError, BotoCoreError) as exc:
            failed.append(Rejected(upload.path, f"upload failed: {exc}"))
    return failed


@click.command()
@home_option
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--subject", help="Subject of files not below a subject_XX folder, e.g. 03.")
@click.option("--session", help="Session, e.g. 2 (key subject_XX/session_02/...).")
@json_option
def upload(home, sources, subject, session, as_json) -> None:
    """Upload Parquet recordings (files or folders) into the landing zone.

    Files below a subject_XX folder keep System A's keys (subject_01/subject_01_eeg_stim.parquet);
    others go to subject_<S>/[session_<N>/]<file name>, S from --subject or the file's metadata.

    \b
    Examples:
      p300 upload data/brain_invaders/
      p300 upload rec.parquet --subject 03 --session 2
    """
    try:
        plan = plan_uploads(sources, subject=subject, session=session)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    failed = []
    if plan.uploads:
        clients = cloud_clients(home)
        failed = _upload_with_progress(clients.s3, plan.uploads, quiet=as_json)
    bad = {r.path for r in failed}
    done = [u for u in plan.uploads if u.path not in bad]
    rejected = plan.rejected + failed
    if as_json:
        echo_json(
            {
                "uploaded": [{"path": str(u.path), "key": u.key, "bytes": u.size} for u in done],
                "rejected": [{"path": str(r.path), "reason": r.reason} for r in rejected],
            }
        )
    else:
        _print_result(done, rejected)
    if rejected:
        raise click.ClickException(f"{len(rejected)} path(s) not uploaded (reasons above)")


def _upload_with_progress(s3, uploads: Sequence[PlannedUpload], *, quiet: bool) -> list[Rejected]:
    columns = (TextColumn("uploading"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=Console(stderr=True), disable=quiet) as progress:
        task = progress.add_task("upload", total=sum(u.size for u in uploads))
        return upload_files(s3, uploads, on_bytes=lambda n: progress.advance(task, n))


def _print_result(done: Sequence[PlannedUpload], rejected: Sequence[Rejected]) -> None:
    console = Console()
    if done:
        table = Table("file", f"s3://{LANDING_BUCKET}/…", "MB", title="uploaded")
        for u in done:
            table.add_row(str(u.path), u.key, f"{u.size / 1e6:.1f}")
        console.print(table)
    for r in rejected:
        Console(stderr=True).print(f"[red]not uploaded[/red] {r.path}: {r.reason}")
