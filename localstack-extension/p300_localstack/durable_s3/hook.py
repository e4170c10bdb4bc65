"""The LocalStack start-up hook that turns durable S3 on when P300_S3_DATA_DIR is set.

Settings (environment variables):

- ``P300_S3_DATA_DIR``: the data directory; when unset or empty, S3 stays plain (in memory).
- ``P300_S3_RECOVERY``: 'strict' (default) or 'salvage'; see recovery.py.
- ``P300_S3_COMPACT_BYTES``: compact when the journal grows beyond this many bytes.
- ``P300_S3_FAULT_FILE``: fault injection for tests (see log.DurableLog).
"""

import os
from collections.abc import Mapping
from pathlib import Path

from localstack.runtime import hooks

DATA_DIR_ENV = "P300_S3_DATA_DIR"
RECOVERY_ENV = "P300_S3_RECOVERY"
COMPACT_BYTES_ENV = "P300_S3_COMPACT_BYTES"
FAULT_FILE_ENV = "P300_S3_FAULT_FILE"


def settings(environ: Mapping[str, str]) -> dict:
    """install()'s keyword arguments from `environ`; raises ValueError naming a bad setting."""
    from .log import DEFAULT_COMPACT_BYTES
    from .recovery import RECOVERY_MODES

    recovery = environ.get(RECOVERY_ENV, "").strip() or "strict"
    if recovery not in RECOVERY_MODES:
        raise ValueError(f"{RECOVERY_ENV} must be one of {RECOVERY_MODES}, got {recovery!r}")
    compact = environ.get(COMPACT_BYTES_ENV, "").strip() or str(DEFAULT_COMPACT_BYTES)
    if not compact.isdigit() or int(compact) <= 0:
        raise ValueError(
            f"{COMPACT_BYTES_ENV} must be a whole number of bytes > 0, got {compact!r}"
        )
    fault_file = environ.get(FAULT_FILE_ENV, "").strip()
    return {
        "recovery": recovery,
        "compact_bytes": int(compact),
        "fault_file": Path(fault_file) if fault_file else None,
    }


@hooks.on_infra_start()
def p300_durable_s3():
    data_dir = os.environ.get(DATA_DIR_ENV, "").strip()
    if not data_dir:
        return
    from .runtime import install

    install(Path(data_dir), **settings(os.environ))
