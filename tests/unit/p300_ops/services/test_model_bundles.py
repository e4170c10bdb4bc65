"""build_bundle against a real MLflow registry (SQLite in a temporary directory)."""

import json

import mlflow.sklearn
import numpy as np
import pytest
from mlflow import MlflowClient

from p300_aws.mlflow_tracking import process_wide_mlflow
from p300_ops.services.model_bundles import build_bundle
from p300_serving.model import LinearScorer, load_bundle
from tests.registered_models import register_as_training_does

MODEL = "P300-Classifier"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def registry(tmp_path_factory, pipeline, training):
    """A registry holding version 1 (alias champion, with schema) and 2 (no schema artifact),
    registered as a training registers them."""
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_experiment("p300-training", artifact_location=(root / "a").as_uri())
    for schema, alias in ((training[2], "champion"), (None, "challenger")):
        version = register_as_training_does(
            uri, "p300-training", pipeline, schema, alias=alias, name=MODEL
        )
        run_id = client.get_model_version(MODEL, version).run_id
        client.log_metric(run_id, "roc_auc", 0.87)
        client.log_dict(run_id, {"subjects": ["01", "02"]}, "training_subjects.json")
    return uri


@pytest.mark.parametrize("alias_or_version", ["champion", 1, "1"])
def test_bundle_from_mlflow_predicts_like_the_registered_model(
    registry, alias_or_version, training, tmp_path
):
    out = build_bundle(registry, MODEL, alias_or_version, tmp_path / "bundle")
    served = load_bundle(out)
    assert isinstance(served.scorer, LinearScorer)
    with process_wide_mlflow(registry):
        original = mlflow.sklearn.load_model(f"models:/{MODEL}/1")
    features = training[0]
    labels, probability, _ = served.predict(features)
    np.testing.assert_array_equal(labels, original.predict(features))
    np.testing.assert_allclose(probability, original.predict_proba(features)[:, 1], rtol=1e-6,
                               atol=1e-9)  # fmt: skip
    info = json.loads((out / "bundle.json").read_text())
    assert info["model"]["version"] == "1"
    assert info["model"]["alias"] == (None if str(alias_or_version) == "1" else "champion")
    assert info["metrics"] == {"roc_auc": 0.87}
    assert info["features_schema"] == training[2].to_dict()


@pytest.mark.parametrize(
    ("alias_or_version", "match"),
    [
        ("staging", r"registered model 'P300-Classifier' has no alias 'staging'"),
        (9, r"registered model 'P300-Classifier' has no version '9'"),
        ("challenger", r"run \w+ has no features schema JSON artifact .*training_subjects.json"),
    ],
)
def test_missing_alias_version_or_schema_is_a_lookup_error(
    registry, alias_or_version, match, tmp_path
):
    with pytest.raises(LookupError, match=match):
        build_bundle(registry, MODEL, alias_or_version, tmp_path / "bundle")
    assert not (tmp_path / "bundle").exists()


def test_an_alias_builds_its_version_and_an_unknown_alias_says_so(registry, tmp_path):
    # What `python -m p300_serving.bundle` checked; `p300 deploy-model` now builds bundles.
    out = build_bundle(registry, MODEL, "champion", tmp_path / "bundle")
    assert out == tmp_path / "bundle"
    assert load_bundle(tmp_path / "bundle").info.version == "1"
    with pytest.raises(LookupError, match="has no alias 'staging'"):
        build_bundle(registry, MODEL, "staging", tmp_path / "other")
