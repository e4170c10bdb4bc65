"""The columns of the subjects table, one place: a column is a title and how to read its value
from a subject/session's status and epoch counts. Adding one (a calibration state, say) is
one line here; optional columns show only when some row has a value."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from p300_ops.services.subject_features import EpochCounts
from p300_ops.services.subject_status import SubjectStatus

type Row = tuple[SubjectStatus, EpochCounts | None]


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    value: Callable[[SubjectStatus, EpochCounts | None], str]
    optional: bool = False


def _short(text: str | None, n: int = 12) -> str:
    return (text or "-")[:n]


def _epochs(counts: EpochCounts | None) -> str:
    if counts is None:
        return "-"
    causes = ", ".join(f"{n} {cause}" for cause, n in counts.rejected_by.items())
    return f"{counts.n_kept} kept / {counts.n_rejected} rejected" + (
        f" ({causes})" if causes else ""
    )


def _quarantine(status: SubjectStatus, _counts) -> str:
    return "; ".join(f"{q.code}: {q.message} ({q.landing_key})" for q in status.quarantined)


SUBJECT_COLUMNS: tuple[Column, ...] = (
    Column("study", "study", lambda s, c: s.study),
    Column("subject", "subject", lambda s, c: s.subject),
    Column("session", "session", lambda s, c: s.session or "-"),
    Column("stage", "stage", lambda s, c: s.stage),
    Column("raw", "raw version", lambda s, c: _short(s.raw_version_id) if s.raw_key else "-"),
    Column("sha256", "raw sha256", lambda s, c: _short(s.raw_sha256) if s.raw_key else "-"),
    Column("features", "features", lambda s, c: s.features if s.raw_key else "-"),
    Column("features_version", "features version", lambda s, c: _short(c and c.version_id)),
    Column("epochs", "epochs", lambda s, c: _epochs(c)),
    Column("quarantine", "quarantine reasons", _quarantine, optional=True),
    Column(
        "landed", "waiting in the landing zone", lambda s, c: ", ".join(s.landed), optional=True
    ),
)


def shown_columns(columns: Sequence[Column], rows: Sequence[Row]) -> list[Column]:
    """``columns`` without the optional ones no row has a value for."""
    return [c for c in columns if not c.optional or any(c.value(*row) for row in rows)]
