"""Nothing we start sends telemetry: the machines may reach only 127.0.0.1."""

import os
import subprocess
import sys

from p300_aws.telemetry import TELEMETRY_OFF


def test_importing_p300_ops_first_keeps_mlflow_from_starting_its_telemetry_client():
    # A clean environment: pytest's own variables would switch MLflow's telemetry off anyway.
    env = {k: v for k, v in os.environ.items() if k not in TELEMETRY_OFF and "PYTEST" not in k}
    script = (
        "import os, p300_ops, mlflow; from mlflow.telemetry.client import get_telemetry_client; "
        "print(os.environ['MLFLOW_DISABLE_TELEMETRY'], get_telemetry_client())"
    )
    answer = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert answer.stdout.split() == ["true", "None"]
