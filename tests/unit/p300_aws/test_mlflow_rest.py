"""The REST tracker against a real MLflow server (SQLite store), read back with MLflow's client."""

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from mlflow import MlflowClient

from p300_aws.errors import MlflowUnavailableError
from p300_aws.mlflow_rest import MlflowRestError, MlflowRestTracker, is_retryable
from p300_aws.mlflow_tracking import RetryPolicy
from p300_ops.localcloud import mlflow_server
from p300_ops.localcloud.processes import free_port, stop_server


@pytest.fixture(scope="module")
def server_uri(tmp_path_factory):
    home = tmp_path_factory.mktemp("mlflow-rest")
    server = mlflow_server.start_mlflow(
        home,
        port=free_port(),
        backend_store_uri=mlflow_server.sqlite_store_uri(home),
        localstack_port=free_port(),  # never contacted: these runs log no artifacts
    )
    try:
        mlflow_server.wait_for_mlflow(server, timeout=120)
        yield mlflow_server.tracking_uri(server.port)
    finally:
        stop_server(server, timeout=10)


@pytest.fixture
def tracker(server_uri):
    return MlflowRestTracker(server_uri, policy=RetryPolicy(1, 0))


def test_a_run_is_created_logged_and_ended(tracker, server_uri):
    experiment = f"exp-{uuid.uuid4().hex[:8]}"
    run_id = tracker.start_run(experiment, run_name="subject-01", tags={"subject": "01"})
    tracker.log_values(
        run_id,
        params={"h_freq": 20.0, "baseline": [-0.1, 0.0], "raw_key": "k"},
        metrics={"n_kept": 17, "read_s": 0.25, "missing": None},
    )
    tracker.set_tags(run_id, {"features_key": "subject=01/features.parquet"})
    tracker.end_run(run_id)

    run = MlflowClient(server_uri).get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.info.end_time >= run.info.start_time
    assert run.info.run_name == "subject-01"
    assert run.data.params == {"h_freq": "20.0", "baseline": "[-0.1, 0.0]", "raw_key": "k"}
    assert run.data.metrics == {"n_kept": 17.0, "read_s": 0.25}
    assert run.data.tags["subject"] == "01"
    assert run.data.tags["features_key"] == "subject=01/features.parquet"
    assert MlflowClient(server_uri).get_experiment_by_name(experiment).experiment_id == (
        run.info.experiment_id
    )


def test_concurrent_first_runs_share_one_experiment(tracker, server_uri):
    experiment = f"race-{uuid.uuid4().hex[:8]}"
    with ThreadPoolExecutor(max_workers=6) as pool:
        ids = list(pool.map(lambda _: tracker.experiment_id(experiment), range(6)))
    assert len(set(ids)) == 1
    assert MlflowClient(server_uri).get_experiment_by_name(experiment).experiment_id == ids[0]


def test_the_experiment_id_is_asked_for_once_per_tracker(tracker, server_uri):
    experiment = f"cached-{uuid.uuid4().hex[:8]}"
    first = tracker.experiment_id(experiment)
    MlflowClient(server_uri).rename_experiment(first, f"{experiment}-renamed")
    assert tracker.experiment_id(experiment) == first  # from memory: the server would say none


def test_mark_failed_marks_the_run_and_never_raises(tracker, server_uri):
    run_id = tracker.start_run("failures", run_name="x", tags={})
    tracker.mark_failed(run_id)
    tracker.mark_failed("no-such-run")  # logged, not raised
    assert MlflowClient(server_uri).get_run(run_id).info.status == "FAILED"


def test_a_refused_request_raises_at_once_without_retrying(server_uri):
    sleeps = []
    tracker = MlflowRestTracker(server_uri, policy=RetryPolicy(4, 1.0), sleep=sleeps.append)
    with pytest.raises(MlflowRestError, match="RESOURCE_DOES_NOT_EXIST") as caught:
        tracker.log_values("no-such-run", metrics={"x": 1.0})
    assert caught.value.status == 404
    assert sleeps == []


def test_a_dead_server_is_retried_then_reported_unavailable():
    sleeps = []
    tracker = MlflowRestTracker(
        f"http://127.0.0.1:{free_port()}", policy=RetryPolicy(3, 0.5), sleep=sleeps.append
    )
    with pytest.raises(MlflowUnavailableError, match="experiments/get-by-name failed 3 times"):
        tracker.start_run("any", run_name="x", tags={})
    assert sleeps == [0.5, 1.0]


@pytest.mark.parametrize(
    ("status", "error_code", "retryable"),
    [
        (503, "", True),
        (500, "INTERNAL_ERROR", True),
        (429, "REQUEST_LIMIT_EXCEEDED", True),
        (400, "TEMPORARILY_UNAVAILABLE", True),
        (400, "INVALID_PARAMETER_VALUE", False),
        (404, "RESOURCE_DOES_NOT_EXIST", False),
    ],
)
def test_is_retryable(status, error_code, retryable):
    assert is_retryable(status, error_code) is retryable


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tracking_uri": ""}, "tracking_uri must be an http.s. MLflow server URI, got ''"),
        ({"tracking_uri": "sqlite:///x.db"}, "got 'sqlite:///x.db'"),
        ({"tracking_uri": "http://h:1", "timeout_s": 0}, "timeout_s must be > 0 s, got 0"),
    ],
)
def test_tracker_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MlflowRestTracker(**kwargs)


def test_from_env_needs_the_tracking_uri_and_reads_the_policy():
    with pytest.raises(ValueError, match="MLFLOW_TRACKING_URI must be set"):
        MlflowRestTracker.from_env({})
    tracker = MlflowRestTracker.from_env(
        {"MLFLOW_TRACKING_URI": "http://127.0.0.1:5050/", "P300_MLFLOW_ATTEMPTS": "2"}
    )
    assert tracker.tracking_uri == "http://127.0.0.1:5050"
    assert tracker.policy == RetryPolicy(attempts=2, backoff_s=1.0)


def test_end_run_rejects_an_unknown_status(tracker):
    with pytest.raises(ValueError, match=r"status must be one of \('FINISHED'"):
        tracker.end_run("any", status="DONE")


@pytest.mark.parametrize(
    ("status", "error_code", "detail", "missing"),
    [
        (404, "RESOURCE_DOES_NOT_EXIST", "Run x not found", True),
        (400, "INVALID_PARAMETER_VALUE", "Registered model alias champion not found.", True),
        (400, "INVALID_PARAMETER_VALUE", "Bad run id", False),
        (404, "ENDPOINT_NOT_FOUND", "", False),
    ],
)
def test_only_refusals_meaning_not_there_count_as_missing(status, error_code, detail, missing):
    error = MlflowRestError("x", status=status, error_code=error_code, detail=detail)
    assert error.means_missing is missing


def test_get_answers_none_for_a_missing_model_run_or_alias(tracker):
    name = f"model-{uuid.uuid4().hex[:8]}"
    alias_query = {"name": name, "alias": "champion"}
    assert tracker.get("registered-models/alias", alias_query) is None  # no such model
    tracker._call("registered-models/create", {"name": name})
    assert tracker.get("registered-models/alias", alias_query) is None  # model, no alias: HTTP 400
    assert tracker.get("runs/get", {"run_id": "0" * 32}) is None
    found = tracker.get("registered-models/get", {"name": name})
    assert found["registered_model"]["name"] == name
