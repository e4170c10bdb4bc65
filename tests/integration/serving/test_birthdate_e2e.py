"""Birthdate retrieval on the local cloud: a synthetic System B session decoded through API
Gateway's ``/predict-champion/decode``; and ``/docs`` on path-style and host-style URLs."""

import datetime
import json
from urllib.parse import urljoin

import httpx
import pytest
from click.testing import CliRunner

from p300.birthdate import make_birthdate_session
from p300_aws.names import API_NAME, API_STAGE, CHAMPION_ALIAS
from p300_ops.cli import main
from p300_ops.localcloud import localstack
from p300_ops.services import release
from p300_ops.services.birthdate_retrieval import retrieve_birthdate
from p300_ops.services.cloud import api_url, rest_api_id
from tests.integration.cloud_helpers import predict_headers
from tests.registered_models import register_as_training_does
from tests.synthetic_features import six_subject_lda

pytestmark = [pytest.mark.cloud, pytest.mark.slow, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def apigateway(cloud):
    return localstack.aws_client("apigateway", cloud.localstack_port)


@pytest.fixture(scope="module")
def api_base(cloud, apigateway):
    return api_url(apigateway, API_NAME, endpoint_url=cloud.endpoint_url)


@pytest.fixture(scope="module")
def champion(cloud, apigateway) -> str:
    """System A's LDA fitted on six synthetic subjects (200 s each), registered and deployed as
    champion; its model version."""
    model, schema = six_subject_lda()
    version = register_as_training_does(cloud.tracking_uri, "birthdate-e2e", model, schema)
    lambda_client = localstack.aws_client("lambda", cloud.localstack_port)
    release.deploy_model(
        lambda_client, apigateway, cloud.tracking_uri, CHAMPION_ALIAS, model_version=version
    )
    return version


def test_birthdate_command_recovers_the_date(cloud, champion):
    result = CliRunner().invoke(
        main, ["birthdate", "--date", "1990-07-14", "--seed", "0", "--json", "--home", cloud.home]
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert (document["decoded"], document["truth"]) == ("1990-07-14", "1990-07-14")
    assert document["correct"] is True
    assert document["model"]["version"] == champion
    assert document["model"]["alias"] == CHAMPION_ALIAS
    blocks = {block["field"]: block for block in document["blocks"]}
    assert [blocks[f]["ranking"][0]["item"] for f in ("day", "month", "year")] == [14, 7, 1990]
    assert all(block["margin"] > 0 for block in blocks.values())
    # Years 1940–2010 flashed 10 times at 0.3 s: 213 s, sent as windows of at most 40 s.
    assert len(blocks["year"]["latencies_ms"]) >= 6
    assert (
        sum(r["n_flashes"] for r in blocks["year"]["ranking"]) + blocks["year"]["n_rejected"]
        == 71 * 10
    )


def test_a_leap_day_is_recovered_through_the_library(cloud, api_base, champion):
    session = make_birthdate_session(datetime.date(2000, 2, 29), seed=5)
    run = retrieve_birthdate(session, api_base=api_base, headers=predict_headers(cloud))
    assert run.decoding.date == datetime.date(2000, 2, 29)
    assert run.model["version"] == champion
    latencies = [ms for block in run.blocks for ms in block.latencies_ms]
    assert len(latencies) >= 10 and all(ms > 0 for ms in latencies)


def test_docs_link_a_working_openapi_on_path_and_host_style_urls(cloud, apigateway, champion):
    api_id = rest_api_id(apigateway, API_NAME)
    host_style = {
        "host": f"{api_id}.execute-api.localhost.localstack.cloud:{cloud.localstack_port}"
    }
    styles = [
        (f"{cloud.endpoint_url}/_aws/execute-api/{api_id}/{API_STAGE}", {}),
        (f"{cloud.endpoint_url}/{API_STAGE}", host_style),
    ]
    for stage_url, style in styles:
        headers = {**style, **predict_headers(cloud)}
        docs_url = f"{stage_url}/predict-champion/docs"
        docs = httpx.get(docs_url, headers=headers, timeout=60)
        assert docs.status_code == 200, docs_url
        assert "url: 'openapi.json'" in docs.text
        # What the browser does: resolve the page's link, then the document's server.
        openapi_url = urljoin(docs_url, "openapi.json")
        document = httpx.get(openapi_url, headers=headers, timeout=60)
        assert document.status_code == 200, openapi_url
        server = urljoin(openapi_url, document.json()["servers"][0]["url"])
        assert server == f"{stage_url}/predict-champion"
        model = httpx.get(f"{server}/model", headers=headers, timeout=60)
        assert model.status_code == 200 and model.json()["version"] == champion
