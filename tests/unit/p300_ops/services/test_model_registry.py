"""Registered model versions as a person reviews them (the MLflow parts run in integration)."""

import numpy as np
import pytest
from mlflow import MlflowClient

from p300.models import make_model
from p300_aws.names import (
    KIND_TAG,
    REGISTERED_MODEL,
    STUDY_TAG,
    SUBJECT_TAG,
    subject_model_name,
)
from p300_ops.services import model_registry
from tests.registered_models import register_as_training_does


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


def test_subject_models_lists_each_calibrated_subject_with_its_aliases(tmp_path):
    """A real SQLite registry: two subjects' models tagged as calibration tags them (one with
    two versions), next to a population model that must not be listed."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_experiment("calibration", artifact_location=(tmp_path / "a").as_uri())
    rng = np.random.default_rng(0)
    model = make_model("lda").fit(rng.normal(size=(40, 4)), np.arange(40) % 2)
    register_as_training_does(uri, "calibration", model, None, name=REGISTERED_MODEL)
    calibrations = [("speller", "S02", "champion"), ("speller", "S01", "champion"),
                    ("speller", "S01", "challenger"), ("lab-b", "07", None)]  # fmt: skip
    for study, subject, alias in calibrations:
        name = subject_model_name(study, subject)
        register_as_training_does(uri, "calibration", model, None, name=name, alias=alias)
        tags = {STUDY_TAG: study, SUBJECT_TAG: subject, KIND_TAG: "subject"}
        for key, value in tags.items():
            client.set_registered_model_tag(name, key, value)

    found = model_registry.subject_models(model_registry.tracker(uri))

    assert [(m.study, m.subject) for m in found] == [
        ("lab-b", "07"),
        ("speller", "S01"),
        ("speller", "S02"),
    ]
    s01 = found[1]
    assert (s01.name, s01.latest_version, s01.classifier) == ("P300-speller_S01", "2", None)
    assert s01.aliases == {"challenger": "2", "champion": "1"}
    assert found[0].aliases == {}


def test_subject_models_with_mlflow_down_is_said_at_once():
    with pytest.raises(model_registry.MlflowDown, match="MLflow does not answer"):
        model_registry.subject_models(model_registry.tracker("http://127.0.0.1:9"))
