"""The monitoring part of the synthesized platform: bucket, topic, alarms, grants."""

import aws_cdk as cdk
import pytest
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Match, Template

from infra.constructs.functions import FUNCTION_LAYERS, LAYER_NAMES
from infra.constructs.monitoring import Monitoring
from p300_aws.names import (
    ALERTS_TOPIC,
    DATA_QUALITY_ALARM,
    DATA_QUALITY_METRIC,
    DRIFT_ALARM,
    DRIFT_METRIC,
    HEALTH_ALARM,
    HEALTH_METRIC,
    HEALTH_PROBE_FUNCTION,
    METRIC_NAMESPACE,
    MONITORING_BUCKET,
)
from tests.unit.infra.iam import function_actions, resources_of


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Template:
    """A stack with an API, the monitoring construct, one more function granted alerting and one
    not granted it."""
    app = cdk.App(context={"aws:cdk:disable-asset-staging": True})
    stack = cdk.Stack(app, "MonitoringTest")
    layer_dir = tmp_path_factory.mktemp("core") / "python"
    layer_dir.mkdir()
    core = lambda_.LayerVersion(stack, "Core", code=lambda_.Code.from_asset(str(layer_dir.parent)))
    api = apigw.RestApi(stack, "Api")
    api.root.add_method("ANY")
    monitoring = Monitoring(
        stack,
        "Monitoring",
        function_layers=dict.fromkeys(LAYER_NAMES, core),
        api=api,
        access_logs=cdk.aws_s3.Bucket(stack, "AccessLogs"),
    )
    checker, _ = (
        lambda_.Function(
            stack,
            name.capitalize(),
            function_name=name,
            runtime=lambda_.Runtime.PYTHON_3_13,
            handler="handler.lambda_handler",
            code=lambda_.Code.from_inline("def lambda_handler(event, context): pass"),
        )
        for name in ("checker", "bystander")
    )
    monitoring.grant_alerting(checker)
    return Template.from_stack(stack)


def resource_id(template: Template, resource_type: str, properties: dict | None = None) -> str:
    found = template.find_resources(resource_type, {"Properties": properties or {}})
    assert len(found) == 1, f"expected one {resource_type} {properties}, found {list(found)}"
    return next(iter(found))


def alarm(template: Template, name: str) -> dict:
    found = template.find_resources("AWS::CloudWatch::Alarm", {"Properties": {"AlarmName": name}})
    assert len(found) == 1, f"expected one alarm {name}, found {list(found)}"
    return next(iter(found.values()))["Properties"]


def test_the_bucket_and_topic_have_their_fixed_names(template):
    template.has_resource(
        "AWS::S3::Bucket",
        {
            "Properties": Match.object_like({"BucketName": MONITORING_BUCKET}),
            "DeletionPolicy": "Retain",
        },
    )
    template.has_resource_properties("AWS::SNS::Topic", {"TopicName": ALERTS_TOPIC})


@pytest.mark.parametrize(
    ("name", "metric"), [(DRIFT_ALARM, DRIFT_METRIC), (DATA_QUALITY_ALARM, DATA_QUALITY_METRIC)]
)
def test_the_drift_and_data_quality_alarms_fire_on_one_in_a_minute_and_notify_the_topic(
    template, name, metric
):
    properties = alarm(template, name)
    assert properties["Namespace"] == METRIC_NAMESPACE
    assert properties["MetricName"] == metric
    assert "Dimensions" not in properties
    assert (properties["Statistic"], properties["Period"]) == ("Maximum", 60)
    assert properties["Threshold"] == 1
    assert properties["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert properties["EvaluationPeriods"] == 1
    assert properties["TreatMissingData"] == "notBreaching"
    topic_ref = {"Ref": next(iter(template.find_resources("AWS::SNS::Topic")))}
    assert properties["AlarmActions"] == [topic_ref]
    assert properties["OKActions"] == [topic_ref]


def test_an_alerting_function_gets_the_topic_arn_and_the_permissions(template):
    topic_id = next(iter(template.find_resources("AWS::SNS::Topic")))
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "FunctionName": "checker",
            "Environment": {"Variables": {"ALERTS_TOPIC_ARN": {"Ref": topic_id}}},
        },
    )
    assert {"sns:Publish", "cloudwatch:PutMetricData", "s3:PutObject"} <= function_actions(
        template, "checker"
    )
    assert resources_of(template, "checker", "sns:Publish") == [{"Ref": topic_id}]


def test_the_health_alarm_fires_on_one_failing_alias_and_ignores_missing_data(template):
    properties = alarm(template, HEALTH_ALARM)
    assert (properties["Namespace"], properties["MetricName"]) == (METRIC_NAMESPACE, HEALTH_METRIC)
    assert "Dimensions" not in properties
    assert (properties["Statistic"], properties["Period"], properties["Threshold"]) == (
        "Maximum",
        60,
        1,
    )
    assert properties["TreatMissingData"] == "notBreaching"
    assert properties["AlarmActions"] == [{"Ref": resource_id(template, "AWS::SNS::Topic")}]


def probe_properties(template: Template) -> tuple[str, dict]:
    probe_id = resource_id(
        template, "AWS::Lambda::Function", {"FunctionName": HEALTH_PROBE_FUNCTION}
    )
    return probe_id, template.to_json()["Resources"][probe_id]["Properties"]


def test_the_probe_runs_every_minute(template):
    probe_id, _ = probe_properties(template)
    rule = template.find_resources("AWS::Events::Rule")
    (properties,) = [resource["Properties"] for resource in rule.values()]
    assert properties["ScheduleExpression"] == "rate(1 minute)"
    assert properties["Targets"][0]["Arn"] == {"Fn::GetAtt": [probe_id, "Arn"]}
    template.has_resource_properties(
        "AWS::Lambda::Permission",
        {"Principal": "events.amazonaws.com", "FunctionName": {"Fn::GetAtt": [probe_id, "Arn"]}},
    )


def test_the_probe_gets_the_api_id_its_layers_only_and_its_permissions(template):
    _, properties = probe_properties(template)
    variables = properties["Environment"]["Variables"]
    assert variables["P300_API_ID"] == {"Ref": resource_id(template, "AWS::ApiGateway::RestApi")}
    assert "ALERTS_TOPIC_ARN" in variables
    fake_layer = {"Ref": resource_id(template, "AWS::Lambda::LayerVersion")}
    assert properties["Layers"] == [fake_layer] * len(FUNCTION_LAYERS[HEALTH_PROBE_FUNCTION])
    assert properties["Timeout"] == 60
    allowed = function_actions(template, HEALTH_PROBE_FUNCTION)
    assert {"lambda:ListAliases", "s3:GetObject", "s3:PutObject", "sns:Publish"} <= allowed


def test_a_function_not_granted_alerting_gets_no_permission(template):
    assert function_actions(template, "bystander") == set()
