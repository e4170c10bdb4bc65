"""A boto3 client created at its first use (no request is sent: clients are offline objects)."""

import pytest

from p300_aws.lazy_client import LazyClient


@pytest.fixture(autouse=True)
def region(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def test_no_client_exists_before_first_use():
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
