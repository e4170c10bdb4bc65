"""Each LocalStack alias bug fails on an instance without our fixes and works with them.

The "without" side is one extra LocalStack started with ``P300_DISABLED_PATCHES=all``.
"""

import json
import math
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psutil
import pytest
from botocore.exceptions import ClientError

from p300_ops.localcloud.processes import stop_server
from tests.integration.cloud_helpers import event_sentinel
from tests.integration.localstack.conftest import (
    ROLE_ARN,
    client,
    create_function,
    deploy_stack,
    function_with_two_versions,
    launch,
    stack_failure_reasons,
    zip_bytes,
)

pytestmark = [pytest.mark.cloud, pytest.mark.timeout(600)]

PROXY_HANDLER = 'def handler(event, context):\n    return {"statusCode": 200, "body": "ok"}\n'
#: Answers the size of the request body it received, base64-decoded when API Gateway encoded it.
BODY_SIZE_HANDLER = """import base64
def handler(event, context):
    body = event["body"] or ""
    size = len(base64.b64decode(body)) if event["isBase64Encoded"] else len(body.encode())
    return {"statusCode": 200, "body": str(size)}
"""


@pytest.fixture(scope="module")
def unpatched(tmp_path_factory):
    server = launch(tmp_path_factory.mktemp("unpatched"), {"P300_DISABLED_PATCHES": "all"})
    yield server
    stop_server(server)


def alias_template(function: str, version: str, *, weights=None, description="") -> dict:
    """A stack holding only alias 'live' of the existing `function`; `weights` maps further
    versions to their share of invocations."""
    properties = {
        "FunctionName": function,
        "Name": "live",
        "FunctionVersion": version,
        "Description": description,
    }
    if weights:
        properties["RoutingConfig"] = {
            "AdditionalVersionWeights": [
                {"FunctionVersion": v, "FunctionWeight": w} for v, w in weights.items()
            ]
        }
    return {"Resources": {"Alias": {"Type": "AWS::Lambda::Alias", "Properties": properties}}}


def inline_function_template(message: str) -> dict:
    """A function with inline code returning `message`, a version of it and an alias to that.

    As CDK does, the version's logical id changes with the code and old versions are retained.
    """
    code = f"def handler(event, context):\n    return {message!r}\n"
    version_id = f"Version{message.capitalize()}"
    return {
        "Resources": {
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "FunctionName": "inline",
                    "Runtime": "python3.13",
                    "Handler": "index.handler",
                    "Role": ROLE_ARN,
                    "Code": {"ZipFile": code},
                },
            },
            version_id: {
                "Type": "AWS::Lambda::Version",
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": {"FunctionName": {"Ref": "Fn"}},
            },
            "Alias": {
                "Type": "AWS::Lambda::Alias",
                "Properties": {
                    "FunctionName": {"Ref": "Fn"},
                    "FunctionVersion": {"Fn::GetAtt": [version_id, "Version"]},
                    "Name": "live",
                },
            },
        }
    }


def invoke_payload(lambda_client, name: str):
    return json.loads(lambda_client.invoke(FunctionName=name)["Payload"].read())


@pytest.mark.parametrize(("instance", "fixed"), [("unpatched", False), ("localstack", True)])
def test_cloudformation_alias_with_routing_weights_is_created(request, instance, fixed):
    server = request.getfixturevalue(instance)
    lambda_client, cfn = client(server, "lambda"), client(server, "cloudformation")
    function_with_two_versions(lambda_client, "weighted-in-cfn")

    status = deploy_stack(
        cfn, "weights", alias_template("weighted-in-cfn", "1", weights={"2": 0.2})
    )

    if not fixed:
        assert status in {"CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED"}
        assert "AdditionalVersionWeights" in stack_failure_reasons(cfn, "weights")
        return
    assert status == "CREATE_COMPLETE", stack_failure_reasons(cfn, "weights")
    alias = lambda_client.get_alias(FunctionName="weighted-in-cfn", Name="live")
    assert alias["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.2}}


@pytest.mark.parametrize(("instance", "fixed"), [("unpatched", False), ("localstack", True)])
def test_cloudformation_alias_update_is_applied(request, instance, fixed):
    server = request.getfixturevalue(instance)
    lambda_client, cfn = client(server, "lambda"), client(server, "cloudformation")
    function_with_two_versions(lambda_client, "moved-in-cfn")
    assert deploy_stack(cfn, "update", alias_template("moved-in-cfn", "1")) == "CREATE_COMPLETE"

    status = deploy_stack(cfn, "update", alias_template("moved-in-cfn", "2", description="moved"))

    alias = lambda_client.get_alias(FunctionName="moved-in-cfn", Name="live")
    if not fixed:  # LocalStack logs "not implemented", reports success and changes nothing
        assert (alias["FunctionVersion"], alias["Description"]) == ("1", "")
        return
    assert status == "UPDATE_COMPLETE", stack_failure_reasons(cfn, "update")
    assert (alias["FunctionVersion"], alias["Description"]) == ("2", "moved")
    assert invoke_payload(lambda_client, "moved-in-cfn:live") == {"version": "2", "marker": "two"}


@pytest.mark.parametrize(("instance", "fixed"), [("unpatched", False), ("localstack", True)])
def test_update_alias_with_routing_weights(request, instance, fixed):
    lambda_client = client(request.getfixturevalue(instance), "lambda")
    function_with_two_versions(lambda_client, "reweighted")
    lambda_client.create_alias(FunctionName="reweighted", Name="live", FunctionVersion="1")
    weights = {"AdditionalVersionWeights": {"2": 0.2}}

    if not fixed:
        with pytest.raises(ClientError, match=r"TypeError|InternalError|InternalFailure"):
            lambda_client.update_alias(
                FunctionName="reweighted", Name="live", RoutingConfig=weights
            )
        return
    updated = lambda_client.update_alias(
        FunctionName="reweighted", Name="live", RoutingConfig=weights
    )
    n_invokes, share = 200, 0.2
    versions = [
        invoke_payload(lambda_client, "reweighted:live")["version"] for _ in range(n_invokes)
    ]

    assert updated["RoutingConfig"] == weights
    assert set(versions) <= {"1", "2"}
    sigma = math.sqrt(n_invokes * share * (1 - share))
    assert abs(versions.count("2") - n_invokes * share) <= 4 * sigma


@pytest.mark.parametrize(("instance", "fixed"), [("unpatched", False), ("localstack", True)])
def test_code_change_updates_the_stack_without_replacing_the_alias(request, instance, fixed):
    server = request.getfixturevalue(instance)
    lambda_client, cfn = client(server, "lambda"), client(server, "cloudformation")
    assert deploy_stack(cfn, "inline", inline_function_template("first")) == "CREATE_COMPLETE"
    alias_before = lambda_client.get_alias(FunctionName="inline", Name="live")

    status = deploy_stack(cfn, "inline", inline_function_template("second"))

    if not fixed:  # the alias was replaced: create-before-delete failed, the rollback deleted it
        assert "Alias already exists" in stack_failure_reasons(cfn, "inline")
        with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
            lambda_client.get_alias(FunctionName="inline", Name="live")
        return
    assert status == "UPDATE_COMPLETE", stack_failure_reasons(cfn, "inline")
    assert invoke_payload(lambda_client, "inline:live") == "second"
    alias_after = lambda_client.get_alias(FunctionName="inline", Name="live")
    assert alias_after["FunctionVersion"] != alias_before["FunctionVersion"]
    assert deploy_stack(cfn, "inline", inline_function_template("third")) == "UPDATE_COMPLETE"
    assert invoke_payload(lambda_client, "inline:live") == "third"


@pytest.mark.parametrize(("instance", "fixed"), [("unpatched", False), ("localstack", True)])
def test_a_disabled_rule_delivers_nothing(request, instance, fixed):
    server = request.getfixturevalue(instance)
    events, sqs = client(server, "events"), client(server, "sqs")
    queue_url = sqs.create_queue(QueueName="disabled-rule-target")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    events.put_rule(Name="paused", EventPattern=json.dumps({"source": ["p300.test"]}))
    events.put_targets(Rule="paused", Targets=[{"Id": "queue", "Arn": queue_arn}])
    events.disable_rule(Name="paused")
    pattern = {"source": ["p300.test"]}

    with event_sentinel(events, sqs, name="enabled-sentinel", pattern=pattern) as seen:
        events.put_events(Entries=[{"Source": "p300.test", "DetailType": "t", "Detail": "{}"}])
        seen()  # the event has been matched against every rule
        # Unpatched, the message is expected: wait for it as long as the sentinel may take.
        received = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0 if fixed else 20)

    assert len(received.get("Messages", [])) == (0 if fixed else 1)


def warm_function_template(message: str, warm: int) -> dict:
    """inline_function_template's stack, whose handler says when its environment started, with
    `warm` provisioned environments on alias 'live' (none when 0)."""
    template = inline_function_template(message)
    template["Resources"]["Fn"]["Properties"]["FunctionName"] = "warm"
    template["Resources"]["Fn"]["Properties"]["Code"]["ZipFile"] = (
        "import time\nSTARTED = time.time()\n"
        f"def handler(event, context):\n    return {{'message': {message!r}, 'started': STARTED}}\n"
    )
    if warm:
        template["Resources"]["Alias"]["Properties"]["ProvisionedConcurrencyConfig"] = {
            "ProvisionedConcurrentExecutions": warm
        }
    return template


def test_a_redeploy_keeps_warm_environments_on_the_alias(localstack):
    """The alias fix applies ProvisionedConcurrencyConfig on update: a code change moves the
    warm environments to the new version before the deploy ends; a changed count is applied."""
    lambda_client, cfn = client(localstack, "lambda"), client(localstack, "cloudformation")
    assert deploy_stack(cfn, "warm", warm_function_template("first", 1)) == "CREATE_COMPLETE"

    status = deploy_stack(cfn, "warm", warm_function_template("second", 1))
    deployed_at = time.time()
    answer = invoke_payload(lambda_client, "warm:live")
    config = lambda_client.get_provisioned_concurrency_config(FunctionName="warm", Qualifier="live")

    assert status == "UPDATE_COMPLETE", stack_failure_reasons(cfn, "warm")
    assert answer["message"] == "second"
    assert answer["started"] < deployed_at  # a provisioned environment, started by the deploy
    assert (config["Status"], config["AllocatedProvisionedConcurrentExecutions"]) == ("READY", 1)
    assert deploy_stack(cfn, "warm", warm_function_template("second", 2)) == "UPDATE_COMPLETE"
    config = lambda_client.get_provisioned_concurrency_config(FunctionName="warm", Qualifier="live")
    assert (config["Status"], config["RequestedProvisionedConcurrentExecutions"]) == ("READY", 2)
    # LocalStack also counts the environments a rescale stopped as allocated.
    assert config["AllocatedProvisionedConcurrentExecutions"] >= 2
    assert deploy_stack(cfn, "warm", warm_function_template("third", 0)) == "UPDATE_COMPLETE"
    with pytest.raises(lambda_client.exceptions.ProvisionedConcurrencyConfigNotFoundException):
        lambda_client.get_provisioned_concurrency_config(FunctionName="warm", Qualifier="live")


def proxy_api(
    server, function: str, handler_source: str, *, binary_media_types=(), validate_body=False
) -> str:
    """Function `function` running `handler_source` (``index.handler``) behind a REST API whose
    POST /x proxies to it; the route's URL. With `validate_body` the method has a validator
    checking bodies (against the Empty model, as ours does)."""
    lambda_client, apigateway = client(server, "lambda"), client(server, "apigateway")
    create_function(lambda_client, function, code=zip_bytes({"index.py": handler_source}),
                    handler="index.handler")  # fmt: skip
    arn = lambda_client.get_function(FunctionName=function)["Configuration"]["FunctionArn"]
    api = apigateway.create_rest_api(
        name=f"to-{function}", binaryMediaTypes=list(binary_media_types)
    )["id"]
    root = apigateway.get_resources(restApiId=api)["items"][0]["id"]
    resource = apigateway.create_resource(restApiId=api, parentId=root, pathPart="x")["id"]
    validator = {}
    if validate_body:
        validator["requestValidatorId"] = apigateway.create_request_validator(
            restApiId=api, name="body", validateRequestBody=True
        )["id"]
    apigateway.put_method(
        restApiId=api,
        resourceId=resource,
        httpMethod="POST",
        authorizationType="NONE",
        **validator,
    )
    apigateway.put_integration(
        restApiId=api,
        resourceId=resource,
        httpMethod="POST",
        type="AWS_PROXY",
        integrationHttpMethod="POST",
        uri=f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations",
    )
    apigateway.create_deployment(restApiId=api, stageName="s")
    return f"http://127.0.0.1:{server.port}/_aws/execute-api/{api}/s/x"


def connections_to_itself(server) -> int:
    """TCP connections the LocalStack process opened to its own gateway port (its internal
    clients' pooled HTTP connections)."""
    return sum(
        bool(c.raddr) and c.raddr.port == server.port and c.laddr.port != server.port
        for c in psutil.Process(server.pid).net_connections(kind="tcp")
    )


@pytest.mark.parametrize(("instance", "fixed"), [("unpatched", False), ("localstack", True)])
def test_internal_calls_skip_http(request, instance, fixed):
    """API Gateway's Lambda invoke is an internal call: with the patch it is handed to the
    gateway in-process, so LocalStack opens no HTTP connection to itself."""
    server = request.getfixturevalue(instance)
    url = proxy_api(server, "proxied", PROXY_HANDLER)

    answers = [httpx.post(url, content=b'{"n": 1}', timeout=60) for _ in range(5)]

    assert [(a.status_code, a.text) for a in answers] == [(200, "ok")] * 5
    assert (connections_to_itself(server) == 0) is fixed


@pytest.mark.parametrize(("instance", "fixed"), [("unpatched", False), ("localstack", True)])
def test_a_binary_body_passes_body_validation(request, instance, fixed):
    server = request.getfixturevalue(instance)
    url = proxy_api(
        server, "body-size", BODY_SIZE_HANDLER,
        binary_media_types=["application/octet-stream"], validate_body=True,
    )  # fmt: skip
    not_utf8 = bytes(range(1, 256)) * 4  # no NUL first: JSON would read it as UTF-8

    binary = httpx.post(url, content=not_utf8, timeout=60,
                        headers={"Content-Type": "application/octet-stream"})  # fmt: skip
    not_json = httpx.post(url, content=b"x" * 100, timeout=60,
                          headers={"Content-Type": "application/json"})  # fmt: skip

    assert (not_json.status_code, not_json.json()["message"]) == (400, "Invalid request body")
    if not fixed:  # parsed as JSON: refused (400), or a 500 when not valid UTF-8
        assert binary.status_code in (400, 500)
        return
    assert (binary.status_code, binary.text) == (200, str(len(not_utf8)))


def metrics_db_writes(server) -> int:
    """SQLite's file change counter of LocalStack's CloudWatch store: one per write transaction."""
    home = Path(server.log_path).parents[1]
    (database,) = (home / "localstack").rglob("cloudwatch/metrics.db")
    return int.from_bytes(database.read_bytes()[24:28], "big")


@pytest.mark.parametrize(("instance", "fixed"), [("unpatched", False), ("localstack", True)])
def test_put_metric_data_is_one_transaction(request, instance, fixed):
    server = request.getfixturevalue(instance)
    cloudwatch = client(server, "cloudwatch")
    cloudwatch.put_metric_data(
        Namespace="P300/warmup", MetricData=[{"MetricName": "m", "Value": 1}]
    )
    data = [
        {"MetricName": f"m{i}", "Values": [1.0, 2.0], "Counts": [2.0, 1.0]} for i in range(4)
    ] + [{"MetricName": "stats", "StatisticValues": {"SampleCount": 3, "Sum": 6,
                                                      "Minimum": 1, "Maximum": 3}}]  # fmt: skip
    before = metrics_db_writes(server)

    cloudwatch.put_metric_data(Namespace="P300/batch", MetricData=data)

    assert metrics_db_writes(server) - before == (1 if fixed else len(data))
    now = datetime.now(UTC)
    for name, expected in [("m0", {"SampleCount": 3.0, "Sum": 4.0}),
                           ("m3", {"SampleCount": 3.0, "Sum": 4.0}),
                           ("stats", {"SampleCount": 3.0, "Sum": 6.0})]:  # fmt: skip
        (point,) = cloudwatch.get_metric_statistics(
            Namespace="P300/batch", MetricName=name, StartTime=now - timedelta(minutes=5),
            EndTime=now + timedelta(minutes=1), Period=600, Statistics=["SampleCount", "Sum"],
        )["Datapoints"]  # fmt: skip
        assert {k: point[k] for k in expected} == expected
