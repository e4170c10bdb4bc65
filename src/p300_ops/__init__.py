"""Operations: the p300 CLI (`commands`), the library it calls (`services`) and the local cloud
(`localcloud`)."""

import os

from p300_aws.telemetry import TELEMETRY_OFF

# Before anything of ours imports mlflow, which starts its telemetry client at import time.
os.environ.update(TELEMETRY_OFF)
