"""Start-up recovery of the durable S3 state, and the report when it cannot be trusted (pure).

Strict recovery (the default) accepts only a complete chain: the newest snapshot decoding to its
end, each later journal decoding up to at most a torn last frame, every record's blob present with
its recorded size, and every key or upload belonging to a bucket with a record. Anything else
raises RecoveryRefused with a report of what is damaged, and nothing is changed, moved or
deleted.

Salvage recovery (``P300_S3_RECOVERY=salvage``, chosen by a person after reading that report)
first looks for a complete older chain (the previous generation, kept by every compaction); when
there is one, it is used and the damaged snapshot moved to ``quarantine/``: nothing is lost.
Otherwise it keeps every intact record of the damaged files, moves them to ``quarantine/``, and
turns blob collection off for good (the marker file ``blobs-kept``), so the contents of lost
records stay in ``blobs/``.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from .blobs import BlobStore
from .journal import (
    S3_FORMAT,
    CorruptFile,
    LogFormat,
    Record,
    read_journal,
    read_snapshot,
    salvage,
)
from .state import (
    JOURNAL_NAME,
    SNAPSHOT_NAME,
    DurableState,
    generations,
    journal_path,
    quarantine,
    snapshot_path,
)

RECOVERY_MODES = ("strict", "salvage")
RECOVERY_VARIABLE = "P300_S3_RECOVERY"
#: Present in the data directory when a recovery lost records: blobs are then never collected.
KEEP_BLOBS_MARKER = "blobs-kept"
MAX_LISTED = 20


@dataclass(frozen=True)
class LogSchema:
    """One durable log: its file format, the variable that chooses its recovery mode, how its
    records build its state (an object with DurableState's methods), and how a person names a
    record in a report."""

    fmt: LogFormat
    recovery_variable: str
    new_state: Callable[[], object]
    describe: Callable[[Record], str]

    @property
    def refusal(self) -> str:
        """How a report that refuses to start begins."""
        return f"{self.fmt.name} refused to start"


class RecoveryRefused(Exception):
    """The stored state is damaged; the message is the report for a person."""


@dataclass
class Recovery:
    """The recovered state and what recovery found and did.

    generation : the newest generation on disk (appends continue in its journal unless
        needs_compaction).
    base : the generation of the snapshot the state was built from (None without one).
    keeps_blobs : blob collection is off, because this or an earlier recovery lost records.
    notes : what was found and done, one line each, for the log.
    """

    state: DurableState
    generation: int
    base: int | None
    snapshot_bytes: int
    needs_compaction: bool
    keeps_blobs: bool
    notes: list[str] = field(default_factory=list)


class Chain(NamedTuple):
    """The records of a snapshot and the journals after it, and what was wrong on the way."""

    base: int | None
    files: list[Path]
    records: list[Record]
    errors: list[CorruptFile]
    torn: list[str]
    legacy: bool


def recover(
    data_dir: Path, blobs: BlobStore, *, mode: str, schema: "LogSchema | None" = None
) -> Recovery:
    """Rebuild the state from `data_dir` (see the module docstring for `mode`); `schema`
    defaults to durable S3's."""
    schema = schema or S3_SCHEMA
    notes = []
    for stray in data_dir.glob("*.tmp"):  # a compaction's unfinished snapshot, never named
        stray.unlink()
        notes.append(f"removed the unfinished snapshot {stray.name}")
    snapshots = generations(data_dir, SNAPSHOT_NAME)
    journals = generations(data_dir, JOURNAL_NAME)
    marker = data_dir / KEEP_BLOBS_MARKER
    if not snapshots and not journals:
        return Recovery(schema.new_state(), 0, None, 0, True, marker.exists(), notes)
    newest = read_chain(data_dir, snapshots[-1] if snapshots else None, journals, fmt=schema.fmt)
    chain, lost = newest, False
    if newest.errors:
        previous = _complete_previous_chain(data_dir, newest, snapshots, journals, schema.fmt)
        if mode == "strict":
            raise RecoveryRefused(damage_report(data_dir, newest, previous, schema=schema))
        if previous is not None:
            chain = previous
            for error in newest.errors:
                moved = quarantine(data_dir, error.path)
                notes.append(f"{error}; recovered from the previous generation, moved to {moved}")
        else:
            chain, lost = _salvaged(data_dir, newest, notes, schema.fmt), True
    state = schema.new_state()
    for record in chain.records:
        state.apply(record)
    problems = content_problems(state, blobs, describe=schema.describe)
    if problems:
        if mode == "strict":
            raise RecoveryRefused(content_report(data_dir, problems, schema=schema))
        notes += [f"kept despite: {problem}" for problem in problems]
        lost = True
    if lost:
        marker.write_text("a salvage recovery lost records; remove this file to collect blobs\n")
        notes.append(f"blob collection is off until {marker} is removed")
    notes += chain.torn
    generation = max(snapshots + journals)
    return Recovery(
        state=state,
        generation=generation,
        base=chain.base,
        snapshot_bytes=_size(snapshot_path(data_dir, chain.base)) if chain.base is not None else 0,
        needs_compaction=bool(
            chain is not newest or lost or chain.torn or chain.legacy or generation != chain.base
        ),
        keeps_blobs=lost or marker.exists(),
        notes=notes,
    )


def read_chain(
    data_dir: Path, base: int | None, journals: list[int], *, fmt: LogFormat = S3_FORMAT
) -> Chain:
    """Read snapshot `base` and every journal of generation `base` or later, collecting every
    damaged file rather than stopping at the first."""
    files, records, errors, torn, legacy = [], [], [], [], False
    if base is not None:
        files.append(snapshot_path(data_dir, base))
    files += [journal_path(data_dir, g) for g in journals if base is None or g >= base]
    for path in files:
        try:
            decoded = _read(path, base, fmt)
        except CorruptFile as error:
            errors.append(error)
            continue
        records += decoded.records
        legacy |= decoded.format_version == 0
        if decoded.torn_bytes:
            torn.append(f"{path.name}: a torn last record ({decoded.torn_bytes} bytes) ignored")
    return Chain(base, files, records, errors, torn, legacy)


def _read(path: Path, base: int | None, fmt: LogFormat):
    if path.suffix == ".snap":
        return read_snapshot(path, base, fmt=fmt)
    return read_journal(path, int(JOURNAL_NAME.fullmatch(path.name).group(1)), fmt=fmt)


def content_problems(
    state: DurableState, blobs: BlobStore, *, describe: Callable[[Record], str] | None = None
) -> list[str]:
    """What the records name but is not there: blobs missing or of the wrong size, keys and
    uploads without their bucket's record, parts without their upload's record."""
    describe = describe or describe_s3_record
    problems = [
        f"{describe(record)}: {problem}"
        for record, ref in state.blob_refs()
        if (problem := blobs.problem(ref)) is not None
    ]
    problems += [
        f"{describe(record)}: the record of what holds it is lost" for record in state.orphans()
    ]
    return problems


def describe_s3_record(record: Record) -> str:
    """A person's name for what a record holds."""
    bucket = record.ident[0]
    if record.kind == "bucket":
        return f"bucket {bucket}"
    if record.kind == "key":
        return f"s3://{bucket}/{record.ident[1]}"
    if record.kind == "mpu":
        return f"multipart upload {record.ident[1]} in bucket {bucket}"
    return f"part {record.ident[2]} of multipart upload {record.ident[1]} in bucket {bucket}"


def damage_report(
    data_dir: Path, newest: Chain, previous: Chain | None, *, schema: "LogSchema | None" = None
) -> str:
    schema = schema or S3_SCHEMA
    lines = [f"{schema.refusal}: damaged files in {data_dir}:"]
    lines += [f"  - {error}" for error in newest.errors]
    lines.append("Nothing was changed, moved or deleted.")
    salvage_start = f"Start with {schema.recovery_variable}=salvage"
    if previous is not None:
        names = ", ".join(path.name for path in previous.files)
        lines.append(
            f"The previous generation is complete and holds every acknowledged change ({names}). "
            f"{salvage_start} to recover from it; the damaged file is then "
            f"moved to {data_dir / 'quarantine'}."
        )
    else:
        readable = sum(len(salvage(error.path)) for error in newest.errors)
        lines.append(
            f"No complete copy exists. {salvage_start} to keep every intact "
            f"record ({readable} can still be read from the damaged files): the damaged files are "
            f"moved to {data_dir / 'quarantine'}, and blobs are never collected again, so the "
            f"contents of lost records stay in {data_dir / 'blobs'}."
        )
    return "\n".join(lines)


def content_report(
    data_dir: Path, problems: list[str], *, schema: "LogSchema | None" = None
) -> str:
    schema = schema or S3_SCHEMA
    lines = [
        f"{schema.refusal}: {len(problems)} records in {data_dir} name contents that are lost:"
    ]
    lines += [f"  - {problem}" for problem in problems[:MAX_LISTED]]
    if len(problems) > MAX_LISTED:
        lines.append(f"  - and {len(problems) - MAX_LISTED} more")
    lines.append(
        f"Nothing was changed, moved or deleted. Start with {schema.recovery_variable}=salvage "
        "to start anyway: those objects stay listed, reading one fails with an error naming it, "
        "and blobs are never collected again."
    )
    return "\n".join(lines)


def _complete_previous_chain(
    data_dir: Path, newest: Chain, snapshots: list[int], journals: list[int], fmt: LogFormat
) -> Chain | None:
    """The chain from the snapshot before the newest, when only the newest snapshot is damaged
    and that older chain is complete (it then holds everything the newest one did)."""
    damaged = {error.path for error in newest.errors}
    if len(snapshots) < 2 or damaged != {snapshot_path(data_dir, snapshots[-1])}:
        return None
    previous = read_chain(data_dir, snapshots[-2], journals, fmt=fmt)
    return None if previous.errors else previous


def _salvaged(data_dir: Path, newest: Chain, notes: list[str], fmt: LogFormat) -> Chain:
    """The newest chain with every intact record of its damaged files, which go to quarantine."""
    damaged = {error.path: error for error in newest.errors}
    records = []
    for path in newest.files:
        if path in damaged:
            kept = salvage(path)
            moved = quarantine(data_dir, path)
            notes.append(f"{damaged[path]}; kept its {len(kept)} intact records, moved to {moved}")
            records += kept
        else:
            records += _read(path, newest.base, fmt).records
    return newest._replace(records=records, errors=[])


S3_SCHEMA = LogSchema(S3_FORMAT, RECOVERY_VARIABLE, DurableState, describe_s3_record)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
