"""The cloud state's records and their state in memory (pure: no LocalStack imports).

The cloud state keeps what a LocalStack restart loses and a new CDK deploy does not bring back as
it was. It is a durable log like durable S3's, in the same file format (`durable_s3.journal`)
with its own magic: a snapshot plus journals, replayed at start, strict about damage.

Each record holds the resulting state of one thing; its ident starts with the account and region:

================  =====================================================  ========================
kind              ident                                                  payload (None: deleted)
================  =====================================================  ========================
resource_id       (account, region, service, resource type, name)        the id, UTF-8
api_key           (account, region, key id)                              pickled dict
lambda_version    (account, region, function, version number)            pickled FunctionVersion
lambda_alias      (account, region, function, alias)                     pickled dict
execution         (account, region, execution ARN)                       pickled dict
alarm             (account, region, alarm name)                          pickled dict
================  =====================================================  ========================
"""

from collections.abc import Iterator

from p300_localstack.durable_s3.journal import LogFormat, Record
from p300_localstack.durable_s3.recovery import LogSchema

MAGIC = b"P300CS\x00\x01"
RECORD_KINDS = (
    "resource_id",
    "api_key",
    "lambda_version",
    "lambda_alias",
    "execution",
    "alarm",
)
CLOUD_FORMAT = LogFormat("cloud state", MAGIC, RECORD_KINDS)
RECOVERY_VARIABLE = "P300_CLOUD_STATE_RECOVERY"
Key = tuple[str, tuple[str, ...]]


class CloudState:
    """The latest record of every thing, by (kind, ident); the cloud state keeps no blobs."""

    def __init__(self, records: dict[Key, Record] | None = None):
        self._records: dict[Key, Record] = dict(records or {})

    def apply(self, record: Record) -> None:
        """Replace what `record` describes with its state; a None payload deletes it."""
        key = (record.kind, tuple(record.ident))
        if record.payload is None:
            self._records.pop(key, None)
        else:
            self._records[key] = record

    def get(self, kind: str, ident: tuple[str, ...]) -> list[Record]:
        found = self._records.get((kind, tuple(ident)))
        return [] if found is None else [found]

    def of_kind(self, kind: str) -> list[Record]:
        """Every live record of `kind`, in the order first recorded."""
        return [record for (k, _), record in self._records.items() if k == kind]

    def copy(self) -> "CloudState":
        return CloudState(self._records)

    def records(self) -> Iterator[Record]:
        yield from list(self._records.values())

    def count(self, kind: str) -> int:
        return len(self.of_kind(kind))

    # What durable S3's recovery and log ask of a state: the cloud state names no blobs.
    def blob_refs(self) -> Iterator:
        return iter(())

    def orphans(self) -> list[Record]:
        return []

    def is_referenced(self, blob_id: str) -> bool:
        return False

    def referenced_blobs(self) -> set[str]:
        return set()


def describe(record: Record) -> str:
    """A person's name for what a record holds, e.g. ``Lambda version p300-predict:3``."""
    ident = record.ident
    if record.kind == "resource_id":
        return f"the id of {ident[2]} {ident[3]} {ident[4]!r}"
    if record.kind == "api_key":
        return f"API key {ident[2]}"
    if record.kind == "lambda_version":
        return f"Lambda version {ident[2]}:{ident[3]}"
    if record.kind == "lambda_alias":
        return f"Lambda alias {ident[2]}:{ident[3]}"
    if record.kind == "execution":
        return f"execution {ident[2]}"
    return f"alarm {ident[2]}"


CLOUD_SCHEMA = LogSchema(CLOUD_FORMAT, RECOVERY_VARIABLE, CloudState, describe)
