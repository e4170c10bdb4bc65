"""Shared by every test: no test may leave MLflow's process-wide settings changed for the next."""

import os
import sys

import pytest

from tests.suite_profile import SuiteProfile

#: What MLflow's fluent API reads process-wide (see `p300_aws.mlflow_tracking.process_wide_mlflow`,
#: the context manager that sets them for a block and puts them back).
MLFLOW_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_ID")


def mlflow_process_settings() -> tuple:
    """MLflow's process-wide tracking and registry URIs, active experiment and run, and their
    environment variables (nothing to read while MLflow is not imported)."""
    if "mlflow" not in sys.modules:
        return ()
    from mlflow.tracking import _model_registry, _tracking_service, fluent

    return (
        _tracking_service.utils._tracking_uri,
        _model_registry.utils._registry_uri,
        fluent._active_experiment_id,
        fluent.active_run(),
        *(os.environ.get(name) for name in MLFLOW_ENV),
    )


@pytest.fixture(autouse=True)
def mlflow_settings_are_left_as_found():
    """Fails a test that changed MLflow's process-wide settings without restoring them: every
    later MLflow client of the session would silently talk to its server."""
    before = mlflow_process_settings()
    yield
    after = mlflow_process_settings()
    if before and after != before:
        pytest.fail(f"the test left MLflow's process-wide settings changed: {before} -> {after}")
    if not before and after and any(value is not None for value in after):
        pytest.fail(f"the test left MLflow's process-wide settings set: {after}")


def pytest_configure(config):
    config.pluginmanager.register(SuiteProfile(config.rootpath), "p300-suite-profile")
