import pytest

from p300_aws.api_urls import api_base_url


@pytest.mark.parametrize(
    ("endpoint_url", "expected"),
    [
        ("http://127.0.0.1:4566", "http://127.0.0.1:4566/_aws/execute-api/abc123/prod"),
        ("http://127.0.0.1:4566/", "http://127.0.0.1:4566/_aws/execute-api/abc123/prod"),
        (None, "https://abc123.execute-api.eu-west-1.amazonaws.com/prod"),
        ("", "https://abc123.execute-api.eu-west-1.amazonaws.com/prod"),
    ],
)
def test_the_api_is_reached_path_style_on_an_emulator_else_by_its_aws_host(endpoint_url, expected):
    assert api_base_url("abc123", endpoint_url=endpoint_url, region="eu-west-1") == expected


def test_an_empty_api_id_is_refused():
    with pytest.raises(ValueError, match="api_id must be a non-empty API Gateway id, got ''"):
        api_base_url("", endpoint_url=None, region="us-east-1")
