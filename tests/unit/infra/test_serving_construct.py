"""The prediction API in the synthesized template: the per-subject serving registry it reads."""

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from infra.constructs.authorizers import Authorizers
from infra.constructs.functions import LAYER_NAMES
from infra.constructs.serving import Serving
from infra.constructs.storage import Storage
from p300_aws.names import AUTHORIZER_FUNCTIONS, MODEL_SERVING_BUCKET, PREDICT_FUNCTION
from p300_aws.serving_registry import BUCKET_ENV


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Template:
    """A stack holding only the buckets and the prediction API (the layers faked)."""
    app = cdk.App(context={"aws:cdk:disable-asset-staging": True})
    stack = cdk.Stack(app, "ServingOnly")
    layer_dir = tmp_path_factory.mktemp("layer") / "python"
    layer_dir.mkdir()
    layer = cdk.aws_lambda.LayerVersion(
        stack, "Layer", code=cdk.aws_lambda.Code.from_asset(str(layer_dir))
    )
    storage = Storage(stack, "Storage")
    layers = dict.fromkeys(LAYER_NAMES, layer)
    authorizers = Authorizers(
        stack, "Authorizers", function_layers=layers, access_logs=storage.access_logs
    )
    Serving(
        stack,
        "Serving",
        function_layers=layers,
        model_serving=storage.model_serving,
        authorizer=authorizers.authorizer("predict"),
    )
    return Template.from_stack(stack)


def test_the_serving_registry_is_a_named_versioned_retained_bucket(template):
    (bucket,) = template.find_resources(
        "AWS::S3::Bucket", {"Properties": {"BucketName": MODEL_SERVING_BUCKET}}
    ).values()
    assert bucket["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["DeletionPolicy"] == "Retain"


def test_the_predict_function_may_only_read_the_registry_named_in_its_environment(template):
    (function,) = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"FunctionName": PREDICT_FUNCTION}}
    ).values()
    variables = function["Properties"]["Environment"]["Variables"]
    assert list(variables[BUCKET_ENV]) == ["Ref"]
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    policies = template.find_resources("AWS::IAM::Policy",
                                       {"Properties": {"Roles": [{"Ref": role}]}})  # fmt: skip
    actions = {
        action
        for policy in policies.values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        for action in (
            [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        )
    }
    assert {"s3:GetObject", "s3:ListBucket"} <= actions
    assert not {action for action in actions if action.startswith(("s3:Put", "s3:Delete"))}


def test_every_method_but_health_needs_the_prediction_token(template):
    methods = template.find_resources("AWS::ApiGateway::Method")
    authorizers = template.find_resources("AWS::ApiGateway::Authorizer")
    (predict,) = [
        name
        for name, resource in authorizers.items()
        if resource["Properties"]["Name"] == AUTHORIZER_FUNCTIONS["predict"]
    ]
    open_methods = []
    for method in methods.values():
        properties = method["Properties"]
        if properties["HttpMethod"] == "GET":
            open_methods.append(properties)
            continue
        assert properties["AuthorizationType"] == "CUSTOM"
        assert properties["AuthorizerId"] == {"Ref": predict}
    # One unauthenticated GET /<route>/health per route, for the health probe.
    assert len(open_methods) == 2
    assert all(m.get("AuthorizationType", "NONE") == "NONE" for m in open_methods)


def test_the_api_passes_float32_batches_through_as_binary(template):
    template.has_resource_properties(
        "AWS::ApiGateway::RestApi", {"BinaryMediaTypes": ["application/octet-stream"]}
    )
