"""The live cloud-state journal, and what it held when LocalStack started (pure)."""

import logging
import pickle
from collections.abc import Callable
from pathlib import Path

from p300_localstack.durable_s3.journal import Record
from p300_localstack.durable_s3.log import DEFAULT_COMPACT_BYTES, DurableLog

from .schema import CLOUD_SCHEMA, CloudState

LOG = logging.getLogger(__name__)
_NEVER_UNDONE = float("-inf")


class Recorder:
    """Commits cloud-state records and remembers the previous run's state.

    Parameters
    ----------
    data_dir : Path
        The data directory (snapshots and journals; mode 0700).
    recovery : str
        'strict' (refuse damaged files, with a report) or 'salvage' (see durable_s3.recovery).
    compact_bytes : int
        Compact once the journal is larger than this, in bytes.

    Attributes
    ----------
    previous : CloudState
        The state as recovered at start: what the previous run of LocalStack left. Restoring
        reads it, so that records this run writes (a deploy re-creating an alarm, say) never
        hide what was there before.
    notes : list of str
        What recovery found and did (a torn last record ignored, a salvage), for the report.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        recovery: str = "strict",
        compact_bytes: int = DEFAULT_COMPACT_BYTES,
    ):
        self.log = DurableLog(
            data_dir, schema=CLOUD_SCHEMA, recovery=recovery, compact_bytes=compact_bytes
        )
        self.notes = list(self.log.recovery.notes)
        self.log.open()
        self.previous: CloudState = self.log.state.copy()

    @property
    def state(self) -> CloudState:
        """The live state: the previous run's records and every one committed since."""
        return self.log.state

    def commit(self, capture: Callable[[], list[Record]]) -> list[Record]:
        """Append the records `capture` returns (read under the journal's lock, so the journal
        keeps the order in which states were read); raises OSError when they are not saved."""
        return self.log.commit([], capture, started=_NEVER_UNDONE)

    def commit_or_log(self, capture: Callable[[], list[Record]], *, what: str) -> None:
        """`commit`, logging a failure instead of raising it: for changes no request waits on
        (an execution that ended, an alarm the scheduler moved)."""
        try:
            self.commit(capture)
        except Exception:
            LOG.exception("cloud state: could not save %s", what)

    def close(self) -> None:
        """Compact (a clean stop), then release the data directory."""
        self.log.compact()
        self.log.close()


def record(kind: str, ident: tuple[str, ...], state: object | None) -> Record:
    """A record of `state` pickled, or of a deletion when `state` is None."""
    payload = None if state is None else pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
    return Record(kind, tuple(ident), payload)


def loaded(record_: Record) -> object:
    """The state a record holds (its payload unpickled)."""
    return pickle.loads(record_.payload)
