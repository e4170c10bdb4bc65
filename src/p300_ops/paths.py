"""Where the project's code, environments and local state live."""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LOCALSTACK_PYTHON = REPO / ".venv-localstack" / "bin" / "python"
LAMBDA_PYTHON = REPO / ".venv-lambda" / "bin" / "python"
PROJECT_BIN = REPO / ".venv" / "bin"
NODE_BIN = REPO / "node_modules" / ".bin"
LOCALSTACK_EXTENSION = REPO / "localstack-extension"


def state_home() -> Path:
    """The directory holding every piece of local-cloud state: `$P300_HOME`, else `<repo>/.p300`."""
    return Path(os.environ.get("P300_HOME", REPO / ".p300")).resolve()
