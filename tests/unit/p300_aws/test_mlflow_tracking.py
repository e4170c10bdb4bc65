import os
import time

import numpy as np
import pytest
from mlflow.exceptions import MlflowException, RestException
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.pipeline import make_pipeline

from p300.models import make_model
from p300_aws.errors import MlflowUnavailableError
from p300_aws.mlflow_tracking import (
    MlflowTracker,
    RetryPolicy,
    call_with_retry,
    is_unavailable,
    json_bytes,
    skops_trusted_types,
)


def test_retry_policy_from_env_and_delays():
    policy = RetryPolicy.from_env({"P300_MLFLOW_ATTEMPTS": "4", "P300_MLFLOW_BACKOFF_S": "0.5"})
    assert policy == RetryPolicy(attempts=4, backoff_s=0.5)
    assert policy.delays() == [0.5, 1.0, 2.0]
    assert RetryPolicy.from_env({}) == RetryPolicy()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"attempts": 0}, "attempts must be an integer >= 1"), ({"backoff_s": -1}, "backoff_s")],
)
def test_retry_policy_rejects(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RetryPolicy(**kwargs)


@pytest.mark.parametrize(
    ("exc", "unavailable"),
    [
        (MlflowException("API request to http://x failed with exception Max retries"), True),
        (MlflowException("boom", error_code="TEMPORARILY_UNAVAILABLE"), True),
        (RestException({"error_code": "INVALID_PARAMETER_VALUE", "message": "bad"}), False),
        (RestException({"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "gone"}), False),
        (ConnectionRefusedError("refused"), True),
        (ValueError("a bug"), False),
    ],
)
def test_is_unavailable(exc, unavailable):
    assert is_unavailable(exc) is unavailable


def test_call_with_retry_retries_then_raises():
    calls, sleeps = [], []

    def down():
        calls.append(1)
        raise ConnectionRefusedError("connection refused")

    with pytest.raises(MlflowUnavailableError, match="log things failed 3 times"):
        call_with_retry(down, what="log things", policy=RetryPolicy(3, 0.25), sleep=sleeps.append)
    assert len(calls) == 3
    assert sleeps == [0.25, 0.5]


def test_call_with_retry_returns_after_a_recovery():
    outcomes = iter([ConnectionRefusedError("down"), "run-1"])

    def flaky():
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert call_with_retry(flaky, what="x", policy=RetryPolicy(2, 0), sleep=lambda _: None) == (
        "run-1"
    )


def test_call_with_retry_passes_other_errors_through_at_once():
    calls = []

    def bad_request():
        calls.append(1)
        raise RestException({"error_code": "INVALID_PARAMETER_VALUE", "message": "bad"})

    with pytest.raises(RestException, match="bad"):
        call_with_retry(bad_request, what="x", policy=RetryPolicy(5, 0), sleep=lambda _: None)
    assert len(calls) == 1


def test_a_dead_server_is_reported_unavailable():
    tracker = MlflowTracker("http://127.0.0.1:1", policy=RetryPolicy(2, 0))
    with pytest.raises(MlflowUnavailableError, match="failed 2 times"):
        tracker.start_run("any", run_name="x", tags={})


def test_tracker_needs_a_tracking_uri():
    with pytest.raises(ValueError, match="MLFLOW_TRACKING_URI must be set"):
        MlflowTracker.from_env({})


def test_json_bytes_is_canonical():
    assert json_bytes({"b": 1, "a": "µ"}) == '{\n  "a": "µ",\n  "b": 1\n}'.encode()


def test_process_wide_mlflow_settings_are_put_back(tmp_path, monkeypatch):
    import mlflow
    from mlflow.tracking import fluent

    from p300_aws.mlflow_tracking import process_wide_mlflow

    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_ID"):
        monkeypatch.delenv(name, raising=False)
    before = (mlflow.get_tracking_uri(), mlflow.get_registry_uri(), fluent._active_experiment_id)
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"

    with process_wide_mlflow(store):
        assert (mlflow.get_tracking_uri(), mlflow.get_registry_uri()) == (store, store)
        mlflow.set_experiment("inside")

    after = (mlflow.get_tracking_uri(), mlflow.get_registry_uri(), fluent._active_experiment_id)
    assert after == before
    assert "MLFLOW_EXPERIMENT_ID" not in os.environ
    assert "MLFLOW_TRACKING_URI" not in os.environ


def test_an_xdawn_riemann_model_is_logged_with_our_and_pyriemann_classes_trusted():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(120, 8 * 10))
    labels = np.arange(120) % 4 == 0
    features[labels] += 0.5
    model = make_model("xdawn-riemann", n_channels=8).fit(features, labels)
    trusted = skops_trusted_types(model)
    assert "p300.models.EpochReshaper" in trusted
    assert all(name.startswith(("p300.", "pyriemann.")) for name in trusted)


class ForeignStep(BaseEstimator, TransformerMixin):
    """A step defined outside the trusted modules (here: in a test module)."""

    def fit(self, features, labels=None):
        return self

    def transform(self, features):
        return features


def test_a_model_with_a_class_from_elsewhere_is_refused():
    model = make_pipeline(ForeignStep(), LinearDiscriminantAnalysis())
    model.fit([[0.0], [1.0], [0.1], [0.9]], [0, 1, 0, 1])
    with pytest.raises(ValueError, match=r"outside .*ForeignStep"):
        skops_trusted_types(model)


@pytest.fixture
def sqlite_run(tmp_path) -> tuple[MlflowTracker, str]:
    """A tracker on a fresh SQLite store and a run of it, artifacts under tmp_path/artifacts."""
    tracker = MlflowTracker(f"sqlite:///{tmp_path / 'mlflow.db'}", policy=RetryPolicy(1, 0))
    experiment = tracker.client.create_experiment(
        "unit", artifact_location=(tmp_path / "artifacts").as_uri()
    )
    return tracker, tracker.client.create_run(experiment).info.run_id


def test_log_files_uploads_every_file_with_its_folder_in_one_call(sqlite_run, tmp_path):
    tracker, run_id = sqlite_run
    tracker.log_files(run_id, {"a.json": b"{}", "plots/roc.png": b"\x89PNG"})
    root = tmp_path / "artifacts" / run_id / "artifacts"
    assert (root / "a.json").read_bytes() == b"{}"
    assert (root / "plots" / "roc.png").read_bytes() == b"\x89PNG"


def test_metrics_logged_after_the_model_are_the_models_too(sqlite_run):
    tracker, run_id = sqlite_run
    model = make_model("lda").fit(np.eye(4)[[0, 1, 2, 3] * 3], [0, 1, 0, 1] * 3)

    logged = tracker.log_sklearn_model(run_id, model, pip_requirements=[])
    tracker.log_values(run_id, metrics={"test_roc_auc": 0.85, "skipped": None}, model=logged)

    assert logged.uri == f"models:/{logged.model_id}"
    on_model = tracker.client.get_logged_model(logged.model_id).metrics
    assert [(m.key, m.value, m.run_id) for m in on_model] == [("test_roc_auc", 0.85, run_id)]
    assert tracker.client.get_run(run_id).data.metrics == {"test_roc_auc": 0.85}


def test_a_registration_whose_answer_was_lost_is_not_registered_twice(sqlite_run, monkeypatch):
    import mlflow

    tracker, run_id = sqlite_run
    tracker.policy = RetryPolicy(3, 0)
    model = make_model("lda").fit(np.eye(4)[[0, 1, 2, 3] * 3], [0, 1, 0, 1] * 3)
    logged = tracker.log_sklearn_model(run_id, model, pip_requirements=[])
    register_model, calls = mlflow.register_model, []

    def register_then_lose_the_answer(*args, **kwargs):
        calls.append(str(register_model(*args, **kwargs).version))
        if len(calls) == 1:
            raise ConnectionError("connection reset before the answer arrived")
        return calls[-1]

    monkeypatch.setattr(mlflow, "register_model", register_then_lose_the_answer)
    version = tracker.register(logged.uri, run_id, name="P300-Test", alias="challenger")

    assert (version, calls) == ("1", ["1"])  # one registration, found again by the retry
    versions = tracker.client.search_model_versions("name = 'P300-Test'")
    assert [str(v.version) for v in versions] == ["1"]
    assert str(tracker.client.get_model_version_by_alias("P300-Test", "challenger").version) == "1"


def test_runs_left_running_past_the_timeout_are_failed_with_the_reason(sqlite_run):
    tracker, current = sqlite_run
    experiment = tracker.client.get_run(current).info.experiment_id
    long_ago = int((time.time() - 700) * 1000)

    def run(start_time: int, tags: dict | None = None) -> str:
        return tracker.client.create_run(experiment, start_time=start_time, tags=tags).info.run_id

    abandoned, parent = run(long_ago), run(long_ago, {"tuning": "parent"})
    finished = run(long_ago)
    tracker.client.set_terminated(finished, "FINISHED")

    assert tracker.fail_abandoned_runs("unit", older_than_s=600) == [abandoned]
    status = {r: tracker.client.get_run(r).info.status for r in (abandoned, parent, finished)}
    assert status == {abandoned: "FAILED", parent: "RUNNING", finished: "FINISHED"}
    assert tracker.client.get_run(current).info.status == "RUNNING"  # started just now
    assert "600 s" in tracker.client.get_run(abandoned).data.tags["p300.failure"]
    assert tracker.fail_abandoned_runs("no-such-experiment", older_than_s=600) == []
