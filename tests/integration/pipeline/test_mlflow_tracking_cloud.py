"""The MLflow adapter against the real tracking server."""

import os
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from mlflow import MlflowClient

from p300_aws.mlflow_tracking import MlflowTracker, RetryPolicy

pytestmark = [pytest.mark.cloud, pytest.mark.timeout(600)]


def test_concurrent_first_runs_of_a_new_experiment_all_start(cloud):
    experiment = f"race-{uuid.uuid4().hex[:8]}"
    trackers = [
        MlflowTracker(cloud.tracking_uri, policy=RetryPolicy(attempts=1, backoff_s=0))
        for _ in range(6)
    ]
    with ThreadPoolExecutor(max_workers=6) as pool:
        run_ids = list(
            pool.map(lambda t: t.start_run(experiment, run_name="subject", tags={}), trackers)
        )
    assert len(set(run_ids)) == 6
    experiment_ids = {trackers[0].client.get_run(r).info.experiment_id for r in run_ids}
    assert len(experiment_ids) == 1


ARTIFACT_CHECK = """
import sys
from p300_aws.mlflow_tracking import MlflowTracker
tracker = MlflowTracker(sys.argv[1])
run_id = tracker.start_run("artifact-home", run_name="r", tags={})
tracker.log_json(run_id, "doc.json", {"a": 1})
print(run_id)
"""


def test_artifacts_reach_the_server_whatever_the_global_tracking_uri(cloud, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    result = subprocess.run(
        [sys.executable, "-c", ARTIFACT_CHECK, cloud.tracking_uri],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    run_id = result.stdout.strip().splitlines()[-1]
    assert not (tmp_path / "mlruns").exists()
    client = MlflowClient(cloud.tracking_uri)
    assert [a.path for a in client.list_artifacts(run_id)] == ["doc.json"]
