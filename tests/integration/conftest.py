from pathlib import Path

import pytest

from p300_ops.localcloud import lifecycle
from tests.integration.cloud_helpers import cloud_config

#: What the first test to ask for the session's cloud waits for besides its own work (its timeout
#: covers fixtures): the Lambda layers built (minutes on a fresh checkout) and the app deployed.
CLOUD_START_S = 900

_session_cloud: list[lifecycle.CloudState] = []


@pytest.fixture(scope="session")
def cloud(tmp_path_factory):
    """A whole local cloud (LocalStack, MLflow, the deployed app) for the test session (for
    each worker's session when the suite runs in parallel)."""
    state = lifecycle.up(cloud_config(tmp_path_factory.mktemp("cloud")), progress=lambda _: None)
    _session_cloud.append(state)
    yield state
    lifecycle.down(Path(state.home))


@pytest.hookimpl(hookwrapper=True, tryfirst=True)  # before pytest-timeout's wrapper reads it
def pytest_runtest_protocol(item, nextitem):
    """Give the test that starts the session's cloud `CLOUD_START_S` more than its timeout:
    decided as it runs, since which test comes first depends on the order and the worker."""
    if "cloud" in item.fixturenames and not _session_cloud:
        marker = item.get_closest_marker("timeout")
        own = marker.args[0] if marker and marker.args else item.config.getini("timeout")
        item.add_marker(pytest.mark.timeout(float(own) + CLOUD_START_S), append=False)
    yield
