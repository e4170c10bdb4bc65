"""The LocalStack start-up hook that turns durable S3 on when P300_S3_DATA_DIR is set."""

import os
from pathlib import Path

from localstack.runtime import hooks

#: The data directory; when unset or empty, S3 stays plain (in memory only).
DATA_DIR_ENV = "P300_S3_DATA_DIR"
#: Fault injection for tests: while the file this names exists, journal appends fail.
FAULT_FILE_ENV = "P300_S3_FAULT_FILE"


@hooks.on_infra_start()
def p300_durable_s3():
    data_dir = os.environ.get(DATA_DIR_ENV, "").strip()
    if not data_dir:
        return
    from .runtime import install

    fault_file = os.environ.get(FAULT_FILE_ENV, "").strip()
    install(Path(data_dir), fault_file=Path(fault_file) if fault_file else None)
