"""Serving on the local cloud: models released through the Lambda aliases behind API Gateway.

The tests run in file order against one cloud (shared with other modules, which may have
registered and released models before): a code-only alias answers 503, then two model versions
registered here are deployed, routed, promoted, rolled back and redeployed over (`p300
deploy-model`, `promote`, `rollback` and `traffic` each run once through the CLI).
"""

import io
import json
import re
import subprocess
import uuid
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from click.testing import CliRunner
from mlflow import MlflowClient
from threadpoolctl import threadpool_limits

from p300.models import make_model
from p300_aws.names import (
    API_NAME,
    CHALLENGER_ALIAS,
    CHAMPION_ALIAS,
    PREDICT_FUNCTION,
    REGISTERED_MODEL,
)
from p300_ops import paths
from p300_ops.cli import main
from p300_ops.localcloud import cdk, localstack
from p300_ops.services import layer_builds, release
from p300_ops.services.cloud import api_url
from p300_serving import binary
from tests.integration.cloud_helpers import predict_headers
from tests.registered_models import register_as_training_does
from tests.synthetic_features import two_session_features

pytestmark = [pytest.mark.cloud, pytest.mark.slow, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def aws(cloud):
    port = cloud.localstack_port
    lambda_client = localstack.aws_client("lambda", port)
    apigateway = localstack.aws_client("apigateway", port)
    return lambda_client, apigateway, api_url(apigateway, API_NAME, endpoint_url=cloud.endpoint_url)


@pytest.fixture(scope="module")
def features():
    """Features of two short synthetic sessions: (X, y, schema info)."""
    return two_session_features()


@dataclass(frozen=True)
class Registered:
    """The two model versions this module registers (other modules register theirs too)."""

    client: MlflowClient
    first: str
    second: str


@pytest.fixture(scope="module")
def registered(cloud, features) -> Registered:
    """Two new versions of the registered model: the first MLflow champion, the second
    challenger."""
    x, y, schema = features
    experiment = f"serving-e2e-{uuid.uuid4().hex[:8]}"
    versions = []
    for shrinkage in (0.1, 0.9):
        with threadpool_limits(1):
            model = make_model("lda", shrinkage=shrinkage).fit(x, y)
        versions.append(register_as_training_does(cloud.tracking_uri, experiment, model, schema))
    client = MlflowClient(tracking_uri=cloud.tracking_uri, registry_uri=cloud.tracking_uri)
    first, second = versions
    client.set_registered_model_alias(REGISTERED_MODEL, CHAMPION_ALIAS, first)
    client.set_registered_model_alias(REGISTERED_MODEL, CHALLENGER_ALIAS, second)
    return Registered(client, first, second)


def publish_code_only_version(lambda_client) -> str:
    """A version of the predict function's code as CDK deploys it, without a model bundle (an
    earlier release in the shared cloud may have left one in ``$LATEST``)."""
    code_dir = layer_builds.function_code_dir(PREDICT_FUNCTION)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted(code_dir.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                zipped.write(path, path.relative_to(code_dir))
    lambda_client.update_function_code(FunctionName=PREDICT_FUNCTION, ZipFile=archive.getvalue())
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=PREDICT_FUNCTION)
    return lambda_client.publish_version(FunctionName=PREDICT_FUNCTION)["Version"]


#: The CLI's prediction token, as every request of this module sends it (`signed`).
HEADERS: dict[str, str] = {}


@pytest.fixture(scope="module", autouse=True)
def signed(cloud) -> None:
    HEADERS.update(predict_headers(cloud))


def post_predict(base_url: str, route: str, body: dict) -> httpx.Response:
    return httpx.post(f"{base_url}/{route}/predict", json=body, timeout=60, headers=HEADERS)


def served_version(base_url: str, route: str, x: np.ndarray) -> str:
    response = post_predict(base_url, route, {"features": x[:2].tolist()})
    assert response.status_code == 200, response.text
    return response.json()["model"]["version"]


def mlflow_champion(client: MlflowClient) -> str:
    return client.get_model_version_by_alias(REGISTERED_MODEL, CHAMPION_ALIAS).version


def test_an_alias_without_a_model_answers_503(aws):
    lambda_client, _, base_url = aws
    try:  # another module (or test) released one: put it back afterwards
        previous = lambda_client.get_alias(FunctionName=PREDICT_FUNCTION, Name=CHALLENGER_ALIAS)
    except lambda_client.exceptions.ResourceNotFoundException:
        previous = None
    code_only = publish_code_only_version(lambda_client)
    if previous is None:
        lambda_client.create_alias(
            FunctionName=PREDICT_FUNCTION, Name=CHALLENGER_ALIAS, FunctionVersion=code_only
        )
    else:
        lambda_client.update_alias(
            FunctionName=PREDICT_FUNCTION, Name=CHALLENGER_ALIAS, FunctionVersion=code_only,
            RoutingConfig={"AdditionalVersionWeights": {}},
        )  # fmt: skip
    try:
        lambda_client.add_permission(
            FunctionName=PREDICT_FUNCTION, Qualifier=CHALLENGER_ALIAS, StatementId="test-invoke",
            Action="lambda:InvokeFunction", Principal="apigateway.amazonaws.com",
        )  # fmt: skip
        response = post_predict(base_url, "predict-challenger", {"features": [[0.0]]})
    finally:
        if previous is not None:
            lambda_client.update_alias(
                FunctionName=PREDICT_FUNCTION, Name=CHALLENGER_ALIAS,
                FunctionVersion=previous["FunctionVersion"],
                RoutingConfig=previous.get("RoutingConfig") or {"AdditionalVersionWeights": {}},
            )  # fmt: skip
    assert response.status_code == 503
    assert "model" in response.json()["detail"]


def p300(cloud, *args: str) -> dict:
    """``p300 ARGS --json`` run through the CLI; its JSON output (the command must succeed)."""
    result = CliRunner().invoke(main, [*args, "--json", "--home", cloud.home])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def alias_routing(lambda_client, alias: str) -> tuple[str, dict]:
    """(Lambda version, extra weights) of the predict function's ``alias``."""
    found = lambda_client.get_alias(FunctionName=PREDICT_FUNCTION, Name=alias)
    return found["FunctionVersion"], (found.get("RoutingConfig") or {}).get(
        "AdditionalVersionWeights", {}
    )


@pytest.fixture
def first_champion_second_challenger(cloud, aws, registered, features) -> Registered:
    """MLflow's champion and the champion route are the first version, the challenger's the
    second, with no split, whatever an earlier test left (`p300 deploy-model` where a route
    differs), so each test below passes in any order."""
    lambda_client, _, base_url = aws
    for alias, version in ((CHAMPION_ALIAS, registered.first),
                           (CHALLENGER_ALIAS, registered.second)):  # fmt: skip
        registered.client.set_registered_model_alias(REGISTERED_MODEL, alias, version)
        try:
            _, weights = alias_routing(lambda_client, alias)
        except lambda_client.exceptions.ResourceNotFoundException:
            weights = None
        response = post_predict(
            base_url, f"predict-{alias}", {"features": features[0][:2].tolist()}
        )
        if (
            weights != {}
            or response.status_code != 200
            or (response.json()["model"]["version"] != version)
        ):
            p300(cloud, "deploy-model", "--alias", alias, "--model-version", version)
    return registered


def test_deploy_model_command_serves_each_version_on_its_route(cloud, aws, registered, features):
    lambda_client, _, base_url = aws
    first, second = registered.first, registered.second
    champion = p300(cloud, "deploy-model", "--alias", CHAMPION_ALIAS)  # MLflow's champion
    challenger = p300(cloud, "deploy-model", "--alias", CHALLENGER_ALIAS, "--model-version", second)
    assert (champion["model_version"], challenger["model_version"]) == (first, second)
    assert alias_routing(lambda_client, CHAMPION_ALIAS) == (champion["lambda_version"], {})
    assert alias_routing(lambda_client, CHALLENGER_ALIAS) == (challenger["lambda_version"], {})
    x = features[0]
    for route, version, alias in (("predict-champion", first, CHAMPION_ALIAS),
                                  ("predict-challenger", second, CHALLENGER_ALIAS)):  # fmt: skip
        body = post_predict(base_url, route, {"features": x[:3].tolist()}).json()
        assert body["model"]["version"] == version
        assert body["model"]["alias"] == alias
        assert len(body["labels"]) == 3
    rows = {row["alias"]: row["versions"] for row in release.traffic(lambda_client)}
    assert rows[CHAMPION_ALIAS] == [
        {"lambda_version": champion["lambda_version"], "weight": 1.0,
         "model": REGISTERED_MODEL, "model_version": first}
    ]  # fmt: skip


def test_traffic_command_shows_the_versions_and_the_api_address(
    cloud, aws, first_champion_second_challenger
):
    result = subprocess.run(
        [str(paths.PROJECT_BIN / "p300"), "traffic", "--home", cloud.home],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "champion" in result.stdout and REGISTERED_MODEL in result.stdout
    assert f"API: {aws[2]}" in result.stdout


def test_weighted_routing_follows_the_weights(aws, first_champion_second_challenger, features):
    registered = first_champion_second_challenger
    lambda_client, _, base_url = aws
    champion = lambda_client.get_alias(FunctionName=PREDICT_FUNCTION, Name=CHAMPION_ALIAS)
    challenger = lambda_client.get_alias(FunctionName=PREDICT_FUNCTION, Name=CHALLENGER_ALIAS)
    lambda_client.update_alias(
        FunctionName=PREDICT_FUNCTION, Name=CHAMPION_ALIAS,
        RoutingConfig={"AdditionalVersionWeights": {challenger["FunctionVersion"]: 0.3}},
    )  # fmt: skip
    try:
        counts = Counter(served_version(base_url, "predict-champion", features[0])
                         for _ in range(100))  # fmt: skip
    finally:
        lambda_client.update_alias(
            FunctionName=PREDICT_FUNCTION, Name=CHAMPION_ALIAS,
            FunctionVersion=champion["FunctionVersion"],
            RoutingConfig={"AdditionalVersionWeights": {}},
        )  # fmt: skip
    assert set(counts) == {registered.first, registered.second}
    assert 15 <= counts[registered.second] <= 45, counts


def test_promote_command_moves_champion_and_rollback_command_restores_it(
    cloud, aws, first_champion_second_challenger, features
):
    registered = first_champion_second_challenger
    lambda_client, _, base_url = aws
    before, _ = alias_routing(lambda_client, CHAMPION_ALIAS)
    challenger_version, _ = alias_routing(lambda_client, CHALLENGER_ALIAS)

    promoted = p300(cloud, "promote", "--steps", "50,100", "--requests", "10")

    assert promoted["promoted"] is True
    assert [(step["weight"], step["passed"]) for step in promoted["steps"]] == [
        (0.5, True),
        (1.0, True),
    ]
    assert promoted["steps"][-1]["new_version_requests"] == 10
    assert alias_routing(lambda_client, CHAMPION_ALIAS) == (challenger_version, {})
    assert served_version(base_url, "predict-champion", features[0]) == registered.second
    assert mlflow_champion(registered.client) == registered.second

    back = p300(cloud, "rollback")

    assert (back["lambda_version"], back["model_version"]) == (before, registered.first)
    assert alias_routing(lambda_client, CHAMPION_ALIAS) == (before, {})
    assert served_version(base_url, "predict-champion", features[0]) == registered.first
    assert mlflow_champion(registered.client) == registered.first


def test_a_failing_canary_rolls_back(cloud, aws, first_champion_second_challenger):
    registered = first_champion_second_challenger
    lambda_client, _, base_url = aws
    before = lambda_client.get_alias(FunctionName=PREDICT_FUNCTION, Name=CHAMPION_ALIAS)
    impossible = release.CanaryChecks(max_p95_ms=0.001, requests_per_step=5)
    with pytest.raises(release.PromotionFailed, match=r"p95 latency .* above"):
        release.promote(lambda_client, cloud.tracking_uri, headers=HEADERS,
                        base_url=base_url, steps=(1.0,), checks=impossible)  # fmt: skip
    after = lambda_client.get_alias(FunctionName=PREDICT_FUNCTION, Name=CHAMPION_ALIAS)
    assert after["FunctionVersion"] == before["FunctionVersion"]
    assert not (after.get("RoutingConfig") or {}).get("AdditionalVersionWeights")
    assert mlflow_champion(registered.client) == registered.first


def test_a_later_cdk_deploy_keeps_a_promotion(
    cloud, aws, first_champion_second_challenger, features
):
    registered = first_champion_second_challenger
    lambda_client, _, base_url = aws
    release.promote(lambda_client, cloud.tracking_uri, base_url=base_url, headers=HEADERS,
                    steps=(1.0,), checks=release.CanaryChecks(requests_per_step=3))  # fmt: skip
    built = layer_builds.build_all()  # as `p300 up` does: the sources may have changed since
    context = {"mlflowTrackingUri": cloud.tracking_uri,
               "layerDirs": layer_builds.layer_dirs_context(built)}  # fmt: skip
    cdk.deploy(Path(cloud.home), localstack_port=cloud.localstack_port, context=context)
    assert served_version(base_url, "predict-champion", features[0]) == registered.second
    assert served_version(base_url, "predict-challenger", features[0]) == registered.second


@pytest.mark.parametrize(
    ("body", "status", "match"),
    [
        ({"features": [[0.0, 1.0]]}, 422, r"n_features|features"),
        # A JSON object over the app's 6 MiB limit (under API Gateway's 10 MB).
        ('{"features": [' + ",".join(["[0.0]"] * (7 * 1024 * 1024 // 6)) + "]}", 413, r"at most"),
        # Not a JSON object: the gateway's request validator refuses it before any Lambda runs.
        ("x" * 1000, 400, r"Invalid request body"),
    ],
    ids=["wrong length", "too large", "not JSON"],
)
def test_bad_inputs_get_their_4xx(aws, features, body, status, match):
    _, _, base_url = aws
    url = f"{base_url}/predict-champion/predict"
    if isinstance(body, dict):
        response = httpx.post(url, json=body, timeout=60, headers=HEADERS)
    else:
        response = httpx.post(url, content=body, timeout=60,
                              headers={"content-type": "application/json", **HEADERS})  # fmt: skip
    assert response.status_code == status, response.text[:500]
    assert re.search(match, response.text)
    if status == 422:
        assert str(features[2].n_features) in response.text


def test_a_binary_float32_batch_passes_the_gateway(aws, features):
    """``application/octet-stream`` is a binary media type of the API: the raw float32 body
    reaches the function intact (base64-encoded in the event) and gets the JSON answer."""
    _, _, base_url = aws
    x = features[0][:50]
    url = f"{base_url}/predict-champion/predict"
    as_json = post_predict(base_url, "predict-champion", {"features": x.tolist()}).json()

    response = httpx.post(url, content=binary.encode_batch(x), timeout=60,
                          headers={**binary.binary_headers(x.shape), **HEADERS})  # fmt: skip
    cut = httpx.post(url, content=binary.encode_batch(x)[:-2], timeout=60,
                     headers={"Content-Type": binary.MEDIA_TYPE, **HEADERS})  # fmt: skip

    assert response.status_code == 200, response.text[:500]
    assert response.json() == as_json
    assert cut.status_code == 422
    assert f"got {x.size * 4 - 2} bytes" in cut.json()["detail"]


def test_docs_are_reachable_through_the_gateway(aws):
    _, _, base_url = aws
    docs = httpx.get(f"{base_url}/predict-champion/docs", timeout=60, headers=HEADERS)
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    schema = httpx.get(f"{base_url}/predict-champion/openapi.json", timeout=60, headers=HEADERS)
    assert "/predict" in schema.json()["paths"]
