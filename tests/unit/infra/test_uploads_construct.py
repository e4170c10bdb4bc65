"""The upload API in the synthesized template: token-protected methods, a generated key value."""

import json

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

from infra.constructs.authorizers import Authorizers
from infra.constructs.functions import FUNCTION_CODE, FUNCTION_LAYERS, LAYER_NAMES
from infra.constructs.storage import Storage
from infra.constructs.uploads import ROOT_RESOURCE, Uploads
from p300_aws.names import (
    API_STAGE,
    LANDING_BUCKET,
    UPLOAD_API_KEY_NAME,
    UPLOAD_API_NAME,
    UPLOAD_URL_FUNCTION,
    UPLOAD_USAGE_PLAN_NAME,
)
from tests.unit.infra.iam import function_actions, resources_of


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Template:
    """A stack holding only the buckets and the upload API (the core layer faked)."""
    app = cdk.App(context={"aws:cdk:disable-asset-staging": True})
    stack = cdk.Stack(app, "UploadsOnly")
    core_dir = tmp_path_factory.mktemp("core") / "python"
    core_dir.mkdir()
    core = cdk.aws_lambda.LayerVersion(
        stack, "Core", code=cdk.aws_lambda.Code.from_asset(str(core_dir))
    )
    storage, layers = Storage(stack, "Storage"), dict.fromkeys(LAYER_NAMES, core)
    authorizers = Authorizers(
        stack, "Authorizers", function_layers=layers, access_logs=storage.access_logs
    )
    Uploads(
        stack,
        "Uploads",
        storage=storage,
        function_layers=layers,
        authorizer=authorizers.authorizer("upload"),
    )
    return Template.from_stack(stack)


def test_every_route_is_a_post_that_requires_a_token_and_an_api_key(template):
    methods = template.find_resources("AWS::ApiGateway::Method")
    resources = template.find_resources("AWS::ApiGateway::Resource")
    assert sorted(r["Properties"]["PathPart"] for r in resources.values()) == [
        "uploads",
        "{proxy+}",
    ]
    assert len(methods) == len(resources)
    for method in methods.values():
        assert method["Properties"]["HttpMethod"] == "POST"
        assert method["Properties"]["ApiKeyRequired"] is True
        assert method["Properties"]["AuthorizationType"] == "CUSTOM"
        assert method["Properties"]["Integration"]["Type"] == "AWS_PROXY"


def test_the_api_key_has_no_value_in_the_template(template):
    keys = template.find_resources("AWS::ApiGateway::ApiKey")
    assert len(keys) == 1
    properties = next(iter(keys.values()))["Properties"]
    assert properties["Name"] == UPLOAD_API_KEY_NAME
    assert "Value" not in properties
    assert "GenerateDistinctId" not in properties or properties["GenerateDistinctId"] is True


def test_the_usage_plan_binds_the_key_to_the_prod_stage(template):
    template.has_resource_properties(
        "AWS::ApiGateway::UsagePlan",
        {
            "UsagePlanName": UPLOAD_USAGE_PLAN_NAME,
            "ApiStages": [Match.object_like({"Stage": Match.any_value()})],
        },
    )
    template.resource_count_is("AWS::ApiGateway::UsagePlanKey", 1)
    template.has_resource_properties("AWS::ApiGateway::Stage", {"StageName": API_STAGE})
    template.has_resource_properties("AWS::ApiGateway::RestApi", {"Name": UPLOAD_API_NAME})


def test_the_function_has_only_the_core_layer_and_may_write_the_landing_zone(template):
    functions = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"FunctionName": UPLOAD_URL_FUNCTION}}
    )
    (function,) = functions.values()
    assert len(function["Properties"]["Layers"]) == len(FUNCTION_LAYERS[UPLOAD_URL_FUNCTION])
    allowed = function_actions(template, UPLOAD_URL_FUNCTION)
    assert {"s3:PutObject", "s3:AbortMultipartUpload"} <= allowed
    assert not {a for a in allowed if a.startswith("s3:DeleteObject")}
    landing = {"Ref": next(iter(template.find_resources("AWS::S3::Bucket", {
        "Properties": {"BucketName": LANDING_BUCKET}})))}  # fmt: skip
    put_resources = resources_of(template, UPLOAD_URL_FUNCTION, "s3:PutObject")
    assert put_resources
    for resource in put_resources:
        assert landing["Ref"] in json.dumps(resource), resource  # the landing zone only


def test_no_password_or_secret_appears_in_the_template(template):
    text = json.dumps(template.to_json()).lower()
    for word in ("password", "secret"):
        assert word not in text


def test_every_route_the_function_serves_is_under_the_proxied_resource():
    from p300_aws.uploads import UPLOAD_ROUTES

    assert UPLOAD_ROUTES
    for path in UPLOAD_ROUTES:
        assert path == f"/{ROOT_RESOURCE}" or path.startswith(f"/{ROOT_RESOURCE}/")
    assert (FUNCTION_CODE[UPLOAD_URL_FUNCTION] / "handler.py").is_file()
