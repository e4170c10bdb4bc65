"""The Lambdas' AWS clients: botocore's, some created at first use (clients send nothing until
an operation is called, so no test here needs a cloud)."""

import subprocess
import sys

import pytest

from p300_aws.clients import LazyClient, client


@pytest.fixture(autouse=True)
def region(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.mark.parametrize("service", ["s3", "sns", "cloudwatch", "lambda"])
def test_client_is_of_the_service_in_the_environments_region(service):
    created = client(service)

    assert created.meta.service_model.service_name == service
    assert created.meta.region_name == "us-east-1"


def test_client_takes_boto3s_options():
    from botocore.config import Config

    created = client("s3", region_name="eu-west-1", config=Config(signature_version="s3v4"))

    assert created.meta.region_name == "eu-west-1"
    assert created.meta.config.signature_version == "s3v4"


def test_client_honours_the_endpoint_url_variable(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")

    assert client("s3").meta.endpoint_url == "http://127.0.0.1:9"


def test_creating_a_client_does_not_import_boto3():
    script = (
        "import sys; from p300_aws.clients import client; client('s3'); "
        "print('boto3' in sys.modules, 's3transfer' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.stdout.strip() == "False False", result.stderr


def test_lazy_client_exists_only_after_first_use():
    lazy = LazyClient("sns")

    assert "client" not in vars(lazy)
    assert repr(lazy) == "LazyClient('sns')"


def test_first_use_creates_the_client_with_its_options_once():
    lazy = LazyClient("sns", region_name="eu-west-1")

    publish = lazy.publish

    assert publish.__self__ is lazy.client
    assert lazy.meta.service_model.service_name == "sns"
    assert lazy.meta.region_name == "eu-west-1"
    assert lazy.client is vars(lazy)["client"]


def test_unknown_attribute_is_the_clients_attribute_error():
    with pytest.raises(AttributeError, match="no_such_operation"):
        _ = LazyClient("sns").no_such_operation
