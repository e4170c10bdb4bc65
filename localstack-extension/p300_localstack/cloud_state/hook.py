"""The LocalStack start-up hook that turns the cloud state on when P300_CLOUD_STATE_DIR is set.

Settings (environment variables):

- ``P300_CLOUD_STATE_DIR``: the data directory; when unset or empty, nothing is kept.
- ``P300_CLOUD_STATE_RECOVERY``: 'strict' (default) or 'salvage' (see durable_s3.recovery).
"""

import os
from pathlib import Path

from localstack.runtime import hooks

DATA_DIR_ENV = "P300_CLOUD_STATE_DIR"


@hooks.on_infra_start()
def p300_cloud_state():
    data_dir = os.environ.get(DATA_DIR_ENV, "").strip()
    if not data_dir:
        return
    from p300_localstack.durable_s3.recovery import RECOVERY_MODES

    from .runtime import install
    from .schema import RECOVERY_VARIABLE

    recovery = os.environ.get(RECOVERY_VARIABLE, "").strip() or "strict"
    if recovery not in RECOVERY_MODES:
        raise ValueError(f"{RECOVERY_VARIABLE} must be one of {RECOVERY_MODES}, got {recovery!r}")
    install(Path(data_dir), recovery=recovery)
