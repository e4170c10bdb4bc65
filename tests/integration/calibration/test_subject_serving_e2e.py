"""A subject's own models served by the same API on the local cloud, next to the population model.

Two versions of one subject's model are calibrated here on the real BCI2000 speller
(`p300.calibration.calibrate`, LDA only, on its first three characters) and registered as MLflow
would hold them after `p300 calibrate`; a population model (System A's LDA on synthetic
subjects, study ``system-a``) is released to champion. The tests then run in file order:
deploy, serve side by side, fall back, refuse another study, promote as a canary, roll back.
"""

import os
import subprocess
import time

import httpx
import mlflow.sklearn
import numpy as np
import pytest
from mlflow import MlflowClient
from threadpoolctl import threadpool_limits

from p300.calibration import calibrate, calibration_data
from p300.features_io import features_schema_info
from p300.preprocessing import preprocess
from p300.real_data import POLICIES, load_recording
from p300.studies import DEFAULT_REJECTION, SYSTEM_A_NAME
from p300_aws.names import (
    API_NAME,
    CHALLENGER_ALIAS,
    CHAMPION_ALIAS,
    KIND_TAG,
    STUDY_TAG,
    SUBJECT_TAG,
    subject_model_name,
)
from p300_ops import paths
from p300_ops.localcloud import localstack
from p300_ops.services import release, subject_release
from p300_ops.services.cloud import api_url
from p300_serving.subject_models import ROUTING_TTL_S
from tests.integration.calibration.population import release_population_champion
from tests.integration.cloud_helpers import predict_headers
from tests.real_data import real_file

pytestmark = [pytest.mark.cloud, pytest.mark.slow, pytest.mark.timeout(1800)]

STUDY, SUBJECT = "serving-e2e", "S01"
MODEL = subject_model_name(STUDY, SUBJECT)


@pytest.fixture(scope="module")
def aws(cloud):
    port = cloud.localstack_port
    clients = {name: localstack.aws_client(name, port) for name in ("s3", "lambda", "apigateway")}
    clients["base_url"] = api_url(clients["apigateway"], API_NAME, endpoint_url=cloud.endpoint_url)
    clients["headers"] = predict_headers(cloud)
    return clients


@pytest.fixture(scope="module")
def speller():
    """bp2calib preprocessed with the robust policy, as calibration data by character."""
    recording = load_recording(real_file("p3k_mit/bp2calib.dat"))
    features = preprocess(recording.raw, POLICIES[DEFAULT_REJECTION])
    data = calibration_data({"01": features}, groups=recording.speller.groups,
                            trials_by_session={"01": recording.speller.characters})  # fmt: skip
    return features, data


def register_subject_model(tracking_uri: str, model, schema) -> str:
    """Log and register ``model`` as the subject's own model, tagged as `p300 calibrate` tags it."""
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    experiment = client.get_experiment_by_name("subject-serving-e2e")
    run = client.create_run(experiment.experiment_id if experiment
                            else client.create_experiment("subject-serving-e2e"))  # fmt: skip
    client.log_dict(run.info.run_id, schema.to_dict(), "feature_schema.json")
    mlflow.set_tracking_uri(tracking_uri)
    try:
        with mlflow.start_run(run_id=run.info.run_id):
            info = mlflow.sklearn.log_model(model, name="model", registered_model_name=MODEL,
                                            serialization_format="pickle",
                                            pip_requirements=["scikit-learn"])  # fmt: skip
    finally:
        mlflow.set_tracking_uri(None)
    version = str(info.registered_model_version)
    for key, value in {STUDY_TAG: STUDY, SUBJECT_TAG: SUBJECT, KIND_TAG: "subject"}.items():
        client.set_model_version_tag(MODEL, version, key, value)
    return version


@pytest.fixture(scope="module")
def versions(cloud, speller) -> tuple[str, str]:
    """Two calibrated versions of the subject's model: on characters 1-3, then on 1-2."""
    features, data = speller
    schema = features_schema_info(features)
    registered = []
    for last in (3, 2):
        chosen = data.subset(np.isin(data.trials, [f"01/{c}" for c in range(last)]))
        with threadpool_limits(1):
            model = calibrate(chosen, candidates=("lda",), n_folds=3).model
        registered.append(register_subject_model(cloud.tracking_uri, model, schema))
    return tuple(registered)


@pytest.fixture(scope="module")
def population(cloud, aws):
    """A population model of study system-a (synthetic subjects) released to champion."""
    return release_population_champion(cloud.tracking_uri, aws["lambda"], aws["apigateway"])


@pytest.fixture
def first_champion_second_challenger(cloud, aws, versions) -> tuple[str, str]:
    """The subject's champion serves the first version and its challenger the second, whatever
    an earlier test left, so each test below passes in any order."""
    for alias, version in zip((CHAMPION_ALIAS, CHALLENGER_ALIAS), versions, strict=True):
        subject_release.deploy_subject_model(
            aws["s3"], aws["lambda"], aws["apigateway"], cloud.tracking_uri, STUDY, SUBJECT,
            alias, model_version=version,
        )  # fmt: skip
    return versions


def subject_url(aws, alias: str = CHAMPION_ALIAS, study: str = STUDY, subject: str = SUBJECT):
    return subject_release.subject_route_url(aws["base_url"], alias, study, subject)


def answered_by(url: str, features: np.ndarray, headers: dict) -> dict:
    response = httpx.post(f"{url}/predict", json={"features": features.tolist()}, timeout=120,
                          headers=headers)  # fmt: skip
    assert response.status_code == 200, response.text[:500]
    return response.json()["model"]


def test_the_subjects_champion_and_the_population_champion_answer_side_by_side(
    cloud, aws, versions, population, speller
):
    first, _ = versions
    done = subject_release.deploy_subject_model(
        aws["s3"], aws["lambda"], aws["apigateway"], cloud.tracking_uri, STUDY, SUBJECT,
        CHAMPION_ALIAS, model_version=first,
    )  # fmt: skip
    assert (done.model_name, done.model_version) == (MODEL, first)
    own = answered_by(subject_url(aws), speller[0].features[:3], aws["headers"])
    assert (own["name"], own["version"], own["kind"], own["study"], own["subject"]) == (
        MODEL, first, "subject", STUDY, SUBJECT
    )  # fmt: skip
    shared = answered_by(f"{aws['base_url']}/predict-champion", population[1][:3], aws["headers"])
    assert (shared["kind"], shared["study"], shared["version"]) == (
        "population", SYSTEM_A_NAME, population[0]
    )  # fmt: skip


def test_a_subject_without_a_model_falls_back_to_its_studys_population_model(aws, population):
    url = subject_url(aws, study=SYSTEM_A_NAME, subject="no-model-yet")
    answered = answered_by(url, population[1][:2], aws["headers"])
    assert (answered["kind"], answered["version"], answered["subject"]) == (
        "population", population[0], None
    )  # fmt: skip


def test_a_decode_for_a_subject_of_another_study_is_404_naming_both(aws, population):
    url = subject_url(aws, subject="S99")
    window = {"sfreq": 256.0, "ch_names": ["Cz"], "data": [[0.0] * 512], "stim": [0] * 512,
              "stim_item": [-1] * 512}  # fmt: skip
    response = httpx.post(f"{url}/decode", json={"raw": window}, timeout=120,
                          headers=aws["headers"])  # fmt: skip
    assert response.status_code == 404
    assert (
        f"no model serves subject 'S99' of study '{STUDY}' under alias 'champion'"
        in response.json()["detail"]
    )
    assert f"trained on study '{SYSTEM_A_NAME}', not '{STUDY}'" in response.json()["detail"]


def test_promote_moves_the_subjects_champion_by_weights_and_rollback_restores_it(
    cloud, aws, first_champion_second_challenger, speller
):
    first, second = first_champion_second_challenger
    subject_release.deploy_subject_model(
        aws["s3"], aws["lambda"], aws["apigateway"], cloud.tracking_uri, STUDY, SUBJECT,
        CHALLENGER_ALIAS, model_version=second,
    )  # fmt: skip
    batch = speller[0].features[:2]
    assert (
        answered_by(subject_url(aws, CHALLENGER_ALIAS), batch, aws["headers"])["version"] == second
    )
    steps = subject_release.promote_subject(
        aws["s3"], cloud.tracking_uri, STUDY, SUBJECT, base_url=aws["base_url"],
            headers=aws["headers"],
        steps=(0.5, 1.0), checks=release.CanaryChecks(requests_per_step=8), features=batch,
    )  # fmt: skip
    assert [step.weight for step in steps] == [0.5, 1.0]
    assert all(step.passed for step in steps)
    assert 1 <= steps[0].new_version_requests <= 7
    assert steps[1].new_version_requests == 8
    client = MlflowClient(tracking_uri=cloud.tracking_uri, registry_uri=cloud.tracking_uri)
    assert client.get_model_version_by_alias(MODEL, CHAMPION_ALIAS).version == second
    rows = {row["alias"]: row for row in subject_release.subject_traffic(aws["s3"], STUDY,
                                                                         SUBJECT)}  # fmt: skip
    assert rows[CHAMPION_ALIAS]["versions"] == [
        {"weight": 1.0, "model": MODEL, "model_version": second}
    ]
    assert rows[CHAMPION_ALIAS]["previous_version"] == first
    back = subject_release.rollback_subject(aws["s3"], cloud.tracking_uri, STUDY, SUBJECT)
    assert back.model_version == first
    assert client.get_model_version_by_alias(MODEL, CHAMPION_ALIAS).version == first
    time.sleep(ROUTING_TTL_S + 1)  # the API's routing cache
    assert answered_by(subject_url(aws), batch, aws["headers"])["version"] == first


def test_a_failing_subject_canary_restores_its_champion(
    cloud, aws, first_champion_second_challenger, speller
):
    first, _ = first_champion_second_challenger
    impossible = release.CanaryChecks(max_p95_ms=0.001, requests_per_step=3)
    with pytest.raises(release.PromotionFailed, match=r"p95 latency .* above .*champion is back "
                                                      rf"on model version {first}"):  # fmt: skip
        subject_release.promote_subject(
            aws["s3"], cloud.tracking_uri, STUDY, SUBJECT, base_url=aws["base_url"],
            headers=aws["headers"],
            steps=(1.0,), checks=impossible, features=speller[0].features[:2],
        )  # fmt: skip
    rows = {row["alias"]: row for row in subject_release.subject_traffic(aws["s3"], STUDY,
                                                                         SUBJECT)}  # fmt: skip
    assert [v["model_version"] for v in rows[CHAMPION_ALIAS]["versions"]] == [first]


def test_the_traffic_command_shows_the_subjects_routing(
    cloud, aws, first_champion_second_challenger
):
    versions = first_champion_second_challenger
    result = subprocess.run(
        [str(paths.PROJECT_BIN / "p300"), "traffic", "--study", STUDY, "--subject", SUBJECT,
         "--home", cloud.home],
        capture_output=True, text=True, timeout=120, env=os.environ | {"COLUMNS": "200"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert MODEL in result.stdout and versions[0] in result.stdout
    assert f"/predict-champion/studies/{STUDY}/subjects/{SUBJECT}" in result.stdout
