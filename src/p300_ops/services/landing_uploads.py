"""Parquet recordings from local files and folders into the landing zone (where each object
starts the ingest pipeline): which key each file gets, and the uploads themselves."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError

from p300_aws import keys
from p300_aws.errors import BadKeyError
from p300_aws.names import LANDING_BUCKET
from p300_aws.studies import get_profile
from p300_ops.services import labels

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
    sources: Sequence[Path],
    *,
    subject: str | None = None,
    session: str | None = None,
    study: str | None = None,
) -> UploadPlan:
    """Decide the landing key of every Parquet file under ``sources``; reject what cannot go.

    A file below a folder named ``subject_XX`` keeps its key from that folder on (System A's
    layout, e.g. ``subject_01/subject_01_eeg_stim.parquet``), from a ``study_<name>`` folder
    right above it on; any other file goes to ``subject_<subject>/[session_<session>/]<file
    name>``, ``subject`` defaulting to the file's ``subject`` metadata. With ``study`` every key
    starts with ``study_<study>/``. Folders are searched recursively for ``*.parquet``. Missing
    paths, files that are not Parquet, keys that disagree with ``subject``/``session``/``study``
    and duplicate keys are rejected with a reason.

    Raises
    ------
    ValueError
        When ``subject`` or ``session`` is not a label of letters and digits, or ``study`` is
        not a study name.
    """
    subject = None if subject is None else labels.label(subject, name="--subject")
    session = None if session is None else labels.label(session, name="--session")
    study = None if study is None else keys.check_study(study, name="--study")
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
            outcome = _plan_file(file.resolve(), subject=subject, session=session, study=study)
            if isinstance(outcome, PlannedUpload) and outcome.key in taken:
                outcome = Rejected(file, f"same landing key {outcome.key} as {taken[outcome.key]}")
            if isinstance(outcome, Rejected):
                plan.rejected.append(Rejected(file, outcome.reason))
            else:
                taken[outcome.key] = file
                plan.uploads.append(PlannedUpload(file, outcome.key, outcome.size))
    return plan


def _plan_file(
    path: Path, *, subject: str | None, session: str | None, study: str | None
) -> PlannedUpload | Rejected:
    problem = _not_parquet(path)
    if problem:
        return Rejected(path, problem)
    try:
        key = _key_from_layout(path, session=session, study=study) or labels.landing_key(
            path.name, subject=_subject_of(path, subject), session=session, study=study
        )
    except ValueError as exc:
        return Rejected(path, str(exc))
    try:
        parsed = keys.parse_landing_key(key)
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
    if study is not None and parsed.study != study:
        return Rejected(path, f"its folder says study {parsed.study} but --study is {study}")
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


def _key_from_layout(path: Path, *, session: str | None, study: str | None) -> str | None:
    """The key from the nearest ``subject_XX`` folder above ``path`` on (from a ``study_<name>``
    folder right above that one on, else below ``study_<study>/`` when ``study`` is given);
    None when there is no such folder."""
    for depth, folder in enumerate(path.parents):
        if keys.SUBJECT_FOLDER.fullmatch(folder.name):
            inner = path.parts[len(path.parts) - depth - 2 :]
            if session is not None and len(inner) == 2:
                inner = (inner[0], f"session_{session}", inner[1])
            if keys.STUDY_FOLDER.fullmatch(folder.parent.name):
                inner = (folder.parent.name, *inner)
            elif study is not None:
                inner = (f"study_{study}", *inner)
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
    return labels.label(metadata[b"subject"].decode(), name="its subject metadata")


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


@dataclass
class UploadReport:
    """What `upload_planned` did: the files that landed and those that did not, with why."""

    uploaded: list[PlannedUpload]
    rejected: list[Rejected]

    def to_dict(self) -> dict:
        return {
            "uploaded": [
                {"path": str(u.path), "key": u.key, "bytes": u.size} for u in self.uploaded
            ],
            "rejected": [{"path": str(r.path), "reason": r.reason} for r in self.rejected],
        }


def upload_planned(
    s3,
    plan: UploadPlan,
    *,
    study: str | None = None,
    on_bytes: Callable[[int], None] = lambda _: None,
) -> UploadReport:
    """Upload the files of ``plan`` (for ``study``, which must exist: checked before anything is
    sent); what was refused while planning is reported too.

    Raises
    ------
    UnknownStudyError
        When ``study`` names no study.
    """
    if study is not None and plan.uploads:
        get_profile(s3, study)
    failed = upload_files(s3, plan.uploads, on_bytes=on_bytes) if plan.uploads else []
    bad = {r.path for r in failed}
    done = [u for u in plan.uploads if u.path not in bad]
    return UploadReport(done, plan.rejected + failed)
