"""Which Lambda and API Gateway calls change the cloud state, and what they change."""

import pytest
from p300_localstack.cloud_state.touched import apigateway_touched, lambda_touched

FN = "p300-predict"


@pytest.mark.parametrize(
    ("operation", "request_", "response", "expected"),
    [
        ("PublishVersion", {"FunctionName": FN}, {"Version": "3"}, [("lambda_version", FN, "3")]),
        ("CreateAlias", {"FunctionName": FN, "Name": "champion"}, {},
         [("lambda_alias", FN, "champion")]),
        ("UpdateAlias", {"FunctionName": FN, "Name": "champion"}, {},
         [("lambda_alias", FN, "champion")]),
        ("DeleteAlias", {"FunctionName": FN, "Name": "challenger"}, {},
         [("lambda_alias", FN, "challenger")]),
        ("DeleteFunction", {"FunctionName": FN}, {}, [("lambda_function", FN, None)]),
        ("DeleteFunction", {"FunctionName": FN, "Qualifier": "2"}, {},
         [("lambda_version", FN, "2")]),
        ("AddPermission", {"FunctionName": FN, "Qualifier": "champion"}, {},
         [("lambda_alias", FN, "champion")]),
        ("PutProvisionedConcurrencyConfig", {"FunctionName": FN, "Qualifier": "live"}, {},
         [("lambda_alias", FN, "live")]),
        ("AddPermission", {"FunctionName": FN, "Qualifier": "3"}, {}, []),
        ("AddPermission", {"FunctionName": FN}, {}, []),
        ("UpdateFunctionCode", {"FunctionName": FN}, {}, []),
        ("Invoke", {"FunctionName": FN}, {}, []),
        ("ListFunctions", {}, {}, []),
    ],
)  # fmt: skip
def test_lambda_calls(operation, request_, response, expected):
    assert lambda_touched(operation, request_, response) == expected


@pytest.mark.parametrize(
    ("operation", "request_", "response", "expected"),
    [
        ("CreateRestApi", {}, {"id": "abc", "name": "p300-api"},
         [("resource_id", "rest_api", ("p300-api", "abc"))]),
        ("ImportRestApi", {}, {"id": "abc", "name": "p300-api"},
         [("resource_id", "rest_api", ("p300-api", "abc"))]),
        ("CreateUsagePlan", {}, {"id": "pl", "name": "p300-uploads"},
         [("resource_id", "usage_plan", ("p300-uploads", "pl"))]),
        ("CreateApiKey", {}, {"id": "k1"}, [("api_key", "k1", None)]),
        ("UpdateApiKey", {"apiKey": "k1"}, {}, [("api_key", "k1", None)]),
        ("DeleteApiKey", {"apiKey": "k1"}, {}, [("api_key", "k1", None)]),
        ("ImportApiKeys", {}, {"ids": ["k1", "k2"]},
         [("api_key", "k1", None), ("api_key", "k2", None)]),
        ("CreateUsagePlanKey", {"usagePlanId": "pl", "keyId": "k1"}, {},
         [("api_key", "k1", None)]),
        ("DeleteUsagePlanKey", {"usagePlanId": "pl", "keyId": "k1"}, {},
         [("api_key", "k1", None)]),
        ("GetApiKeys", {}, {}, []),
        ("CreateDeployment", {"restApiId": "abc"}, {"id": "d"}, []),
    ],
)  # fmt: skip
def test_apigateway_calls(operation, request_, response, expected):
    assert apigateway_touched(operation, request_, response) == expected
