from pathlib import Path

import pytest

from p300_ops.localcloud import lifecycle
from tests.integration.cloud_helpers import cloud_config

#: What the first test to ask for the session's cloud waits for besides its own work (its timeout
#: covers fixtures): the Lambda layers built (minutes on a fresh checkout) and the app deployed.
CLOUD_START_S = 900


@pytest.fixture(scope="session")
def cloud(tmp_path_factory):
    """A whole local cloud (LocalStack, MLflow, the deployed app) for the test session."""
    state = lifecycle.up(cloud_config(tmp_path_factory.mktemp("cloud")), progress=lambda _: None)
    yield state
    lifecycle.down(Path(state.home))


@pytest.hookimpl(trylast=True)  # after any reordering (pytest-randomly): the final first user
def pytest_collection_modifyitems(config, items):
    """Give the first test that uses the session's cloud `CLOUD_START_S` more than its timeout."""
    first = next((item for item in items if "cloud" in item.fixturenames), None)
    if first is None:
        return
    marker = first.get_closest_marker("timeout")
    own = marker.args[0] if marker and marker.args else config.getini("timeout")
    first.add_marker(pytest.mark.timeout(float(own) + CLOUD_START_S), append=False)
