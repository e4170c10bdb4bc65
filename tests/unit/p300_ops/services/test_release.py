"""Release logic that needs no cloud: input checks, canary verdicts, and the code archive."""

import io
import json
import re
import zipfile

import numpy as np
import pytest
from mlflow import MlflowClient

from p300.features_io import FeaturesSchemaInfo
from p300.models import make_model
from p300_ops.services import release
from tests.registered_models import register_as_training_does

MODEL = "P300-Classifier"


@pytest.mark.parametrize(
    ("latencies_s", "expected_ms"),
    [([], None), ([0.1], 100.0), (list(np.arange(1, 101) / 1000), 95.05)],
)
def test_percentile_is_in_ms(latencies_s, expected_ms):
    assert release.percentile_ms(latencies_s) == pytest.approx(expected_ms)


@pytest.mark.parametrize(
    ("step", "failures"),
    [
        (release.CanaryStep(0.1, requests=10, new_version_requests=1, p95_ms=50.0), []),
        (release.CanaryStep(0.1, requests=10, new_version_requests=0), []),
        (release.CanaryStep(0.5, requests=10, errors=1, p95_ms=50.0), [r"error rate 10\.0%"]),
        (release.CanaryStep(0.5, requests=10, new_version_requests=5, p95_ms=900.0),
         [r"p95 latency 900 ms above 500 ms"]),
        (release.CanaryStep(1.0, requests=10, new_version_requests=0), [r"no request"]),
        (release.CanaryStep(1.0), [r"error rate 100\.0%", r"no request"]),
    ],
)  # fmt: skip
def test_step_failures_name_each_broken_check(step, failures):
    found = release.step_failures(step, release.CanaryChecks(max_p95_ms=500.0))
    assert len(found) == len(failures)
    for text, pattern in zip(found, failures, strict=True):
        assert re.search(pattern, text), text


@pytest.mark.parametrize("steps", [(), (0.1, 0.5), (0.5, 0.1, 1.0), (0.0, 1.0), (0.5, 1.5)])
def test_promote_refuses_bad_steps_before_touching_anything(steps):
    with pytest.raises(ValueError, match=r"steps must be increasing weights in \(0, 1\]"):
        release.promote(None, "sqlite://", base_url="http://unused", steps=steps)


@pytest.mark.parametrize(
    ("alias", "options", "match"),
    [
        ("prod", {}, r"alias must be one of \('champion', 'challenger'\), got 'prod'"),
        ("champion", {"model_version": 2, "mlflow_alias": "challenger"}, r"not both"),
    ],
)
def test_deploy_model_checks_its_arguments(alias, options, match):
    with pytest.raises(ValueError, match=match):
        release.deploy_model(None, None, "sqlite://", alias, **options)


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """A SQLite registry with version 1 of the model (a 4-feature LDA) and its features schema,
    registered as a training registers it."""
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_experiment("release", artifact_location=(root / "a").as_uri())
    schema = FeaturesSchemaInfo(
        ch_names=("Fz", "Cz"), sfreq=128.0, tmin=0.0, tmax=1 / 128, n_times=2, n_features=4,
        params_hash="0" * 16, params={},
    )  # fmt: skip
    rng = np.random.default_rng(0)
    model = make_model("lda").fit(rng.normal(size=(40, 4)), np.arange(40) % 2)
    register_as_training_does(uri, "release", model, schema, name=MODEL)
    return uri


def test_the_code_archive_holds_the_handler_and_the_bundle(registry):
    code, version = release.code_archive(registry, MODEL, "1")
    assert version == "1"
    with zipfile.ZipFile(io.BytesIO(code)) as archive:
        names = set(archive.namelist())
        info = json.loads(archive.read("model/bundle.json"))
    assert "handler.py" in names
    assert info["model"] == {"name": MODEL, "version": "1", "alias": None,
                             "run_id": info["model"]["run_id"], "kind": "population",
                             "study": "system-a", "subject": None}  # fmt: skip
    assert info["features_schema"]["n_features"] == 4


def _lambda():
    import boto3

    return boto3.client("lambda", region_name="us-east-1", aws_access_key_id="test",
                        aws_secret_access_key="test")  # fmt: skip


@pytest.mark.parametrize("share", [-0.1, 1.0, 1.5])
def test_split_traffic_refuses_a_share_outside_0_1(share):
    with pytest.raises(ValueError, match=rf"challenger_share must be in \[0, 1\), got {share}"):
        release.split_traffic(_lambda(), share)


def test_published_versions_newest_first_with_their_models():
    from botocore.stub import Stubber

    client = _lambda()
    versions = [
        {"Version": "$LATEST", "Description": ""},
        {"Version": "2", "Description": json.dumps({"model": MODEL, "model_version": "5"}),
         "LastModified": "2026-11-22T10:05:00.000+0000"},
        {"Version": "10", "Description": "not json",
         "LastModified": "2026-11-22T11:00:00.000+0000"},
    ]  # fmt: skip
    with Stubber(client) as stub:
        stub.add_response("list_versions_by_function", {"Versions": versions},
                          {"FunctionName": "p300-predict"})  # fmt: skip
        found = release.published_versions(client)
    assert found == [
        {"lambda_version": "10", "published": "2026-11-22T11:00:00.000+0000", "model": None,
         "model_version": None},
        {"lambda_version": "2", "published": "2026-11-22T10:05:00.000+0000", "model": MODEL,
         "model_version": "5"},
    ]  # fmt: skip
