"""Fixtures for the extension's pure modules.

The extension is installed into LocalStack's venv, not this one; its pure modules import alone.
"""

import io
import sys
from pathlib import Path

import pytest

EXTENSION = Path(__file__).parents[3] / "localstack-extension"
if str(EXTENSION) not in sys.path:
    sys.path.insert(0, str(EXTENSION))

from p300_localstack.durable_s3.journal import Record  # noqa: E402
from p300_localstack.durable_s3.log import DurableLog  # noqa: E402


def commit_keys(log: DurableLog, names: list[str]) -> None:
    """Commit one key record per name (bucket 'bkt'), each with a real blob of its own."""
    for name in names:
        ref = log.blobs.write(io.BytesIO(f"content of {name}".encode()))
        record = Record("key", ("bkt", name), f"state of {name}".encode(), (ref,))
        log.commit([("key", ("bkt", name))], lambda record=record: [record], started=0.0)


@pytest.fixture
def durable_dir(tmp_path) -> Path:
    """A data directory of two generations: bucket 'bkt' and k0..k2 in snapshot-2, k3 and k4 in
    journal-2 (two frames); snapshot-1 and journal-1 are the previous generation."""
    data_dir = tmp_path / "s3"
    log = DurableLog(data_dir)
    log.open()
    log.commit([("bucket", ("bkt",))], lambda: [Record("bucket", ("bkt",), b"b")], started=0.0)
    commit_keys(log, ["k0", "k1", "k2"])
    log.compact()
    commit_keys(log, ["k3", "k4"])
    log.close()
    return data_dir


@pytest.fixture
def keys_of():
    def keys(state) -> list[str]:
        return sorted(r.ident[1] for r in state.records() if r.kind == "key")

    return keys
