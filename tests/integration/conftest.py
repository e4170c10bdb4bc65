from pathlib import Path

import pytest

from p300_ops.localcloud import lifecycle
from tests.integration.cloud_helpers import cloud_config


@pytest.fixture(scope="session")
def cloud(tmp_path_factory):
    """A whole local cloud (LocalStack, MLflow, the deployed app) for the test session."""
    state = lifecycle.up(cloud_config(tmp_path_factory.mktemp("cloud")), progress=lambda _: None)
    yield state
    lifecycle.down(Path(state.home))
