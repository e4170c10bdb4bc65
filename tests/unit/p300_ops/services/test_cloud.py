import os
import time

import boto3
import psutil
import pytest
from botocore.stub import Stubber

from p300_ops.localcloud.lifecycle import CloudState
from p300_ops.localcloud.processes import ServerProcess
from p300_ops.services.cloud import CloudNotRunning, api_url, connect, rest_api_id
from p300_ops.services.errors import ServiceError


def test_no_state_file_means_not_running(tmp_path):
    with pytest.raises(CloudNotRunning, match=r"not running: run `p300 up` \(state home"):
        connect(str(tmp_path))


def test_a_state_file_left_by_a_dead_localstack_means_not_running(tmp_path):
    dead = ServerProcess(name="localstack", pid=2**22 - 1, create_time=time.time(), port=1,
                         log_path=str(tmp_path / "log"))  # fmt: skip
    CloudState(home=str(tmp_path), backend="sqlite", servers={"localstack": dead}).save()
    with pytest.raises(CloudNotRunning, match="the local cloud is not running"):
        connect(str(tmp_path))


def test_clients_point_at_the_recorded_port(tmp_path):
    me = ServerProcess(
        name="localstack",
        pid=os.getpid(),
        create_time=psutil.Process().create_time(),
        port=4999,
        log_path=str(tmp_path / "log"),
    )
    CloudState(home=str(tmp_path), backend="sqlite", servers={"localstack": me}).save()
    clients = connect(str(tmp_path))
    assert clients.endpoint_url == "http://127.0.0.1:4999"
    assert clients.s3.meta.endpoint_url == "http://127.0.0.1:4999"


def _apigateway(apis: list[dict]):
    client = boto3.client("apigateway", region_name="eu-west-1", aws_access_key_id="test",
                          aws_secret_access_key="test")  # fmt: skip
    stub = Stubber(client)
    stub.add_response("get_rest_apis", {"items": apis}, {"limit": 500})
    stub.activate()
    return client


@pytest.mark.parametrize(
    ("endpoint_url", "url"),
    [
        ("http://127.0.0.1:4566", "http://127.0.0.1:4566/_aws/execute-api/a1/prod"),
        (None, "https://a1.execute-api.eu-west-1.amazonaws.com/prod"),
    ],
)
def test_api_url_finds_the_api_by_name_on_the_emulator_and_on_aws(endpoint_url, url):
    apis = [{"id": "a1", "name": "p300-api"}, {"id": "u2", "name": "p300-upload-api"}]
    assert api_url(_apigateway(apis), "p300-api", endpoint_url=endpoint_url) == url


@pytest.mark.parametrize("apis", [[], [{"id": "a", "name": "p300-api"}] * 2])
def test_rest_api_id_needs_exactly_one_api_of_that_name(apis):
    with pytest.raises(ServiceError, match=rf"one REST API named 'p300-api', found {len(apis)}"):
        rest_api_id(_apigateway(apis), "p300-api")
