"""Concurrent Lambdas (one per subject) start runs in a new experiment at the same moment."""

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from p300_aws.mlflow_tracking import MlflowTracker, RetryPolicy

pytestmark = pytest.mark.cloud


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
