"""Registered model versions as a person reviews them (the MLflow parts run in integration)."""

import pytest

from p300_ops.services import model_registry


def test_pooled_and_per_subject_metrics_from_a_training_runs_metrics():
    metrics = {"test_roc_auc": 0.81, "test_kappa": 0.4, "test_06_roc_auc": 0.79,
               "test_07_roc_auc": 0.83, "fit_s": 1.2}  # fmt: skip
    assert model_registry.pooled_metrics(metrics) == {"roc_auc": 0.81, "kappa": 0.4}
    assert model_registry.subject_metrics(metrics, ["06", "07"]) == {
        "06": {"roc_auc": 0.79},
        "07": {"roc_auc": 0.83},
    }


def test_the_run_page_of_the_mlflow_ui():
    url = model_registry.run_page_url("http://127.0.0.1:5050/", "3", "abc")
    assert url == "http://127.0.0.1:5050/#/experiments/3/runs/abc"


@pytest.mark.parametrize("path", ["/etc/passwd", "../other-run/model.pkl"])
def test_artifact_paths_stay_within_the_run(path):
    with pytest.raises(ValueError, match="path must be relative within the run's artifacts"):
        model_registry.run_artifact(None, "run", path)


def test_mlflow_down_is_said_at_once():
    tracker = model_registry.tracker("http://127.0.0.1:9")  # nothing listens on port 9
    with pytest.raises(model_registry.MlflowDown, match="MLflow does not answer"):
        model_registry.model_versions(tracker)
