"""Operations: the p300 CLI, the local cloud, layers and the demo."""

import os

from p300_ops.offline import TELEMETRY_OFF

# Before anything of ours imports mlflow, which starts its telemetry client at import time.
os.environ.update(TELEMETRY_OFF)
