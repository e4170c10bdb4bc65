"""`p300 up --backend postgres`: MLflow on a real local PostgreSQL server, kept across restarts."""

import shutil
import tempfile
from pathlib import Path

import pytest
from mlflow import MlflowClient

from p300_ops.localcloud import lifecycle
from tests.integration.cloud_helpers import alive, cloud_config, process_family

pytestmark = [pytest.mark.cloud, pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture
def reachable_home():
    """PostgreSQL runs as the `postgres` user, which cannot enter pytest's root-only folders."""
    home = Path(tempfile.mkdtemp(prefix="p300-pg-", dir="/tmp"))
    home.chmod(0o755)
    yield home
    shutil.rmtree(home, ignore_errors=True)


def test_mlflow_on_postgres_survives_down_and_up(reachable_home):
    config = cloud_config(reachable_home, backend="postgres")
    state = lifecycle.up(config, progress=lambda _: None)
    try:
        assert set(state.servers) == {"localstack", "postgres", "mlflow"}
        rows = {r.name: r for r in lifecycle.status(config.home)}
        assert rows["postgres"].healthy and rows["postgres"].port == config.postgres_port
        client = MlflowClient(state.tracking_uri)
        run = client.create_run(client.create_experiment("pg-check"))
        client.log_metric(run.info.run_id, "kappa", 0.5)
        client.set_terminated(run.info.run_id)
        family = process_family(state)
        assert lifecycle.down(config.home) == ["mlflow", "postgres", "localstack"]
        assert alive(family) == []

        state = lifecycle.up(config, progress=lambda _: None)
        back = MlflowClient(state.tracking_uri).get_run(run.info.run_id)
        assert back.data.metrics["kappa"] == pytest.approx(0.5)
    finally:
        if lifecycle.CloudState.load(config.home):
            family = process_family(lifecycle.CloudState.load(config.home))
            lifecycle.down(config.home)
            assert alive(family) == []
