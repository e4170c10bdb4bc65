"""The monitoring part of the synthesized platform: bucket, topic, alarms, grants."""

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Match, Template

from infra.constructs.monitoring import Monitoring
from p300_aws.names import (
    ALERTS_TOPIC,
    DRIFT_ALARM,
    DRIFT_METRIC,
    METRIC_NAMESPACE,
    MONITORING_BUCKET,
)


@pytest.fixture(scope="module")
def template() -> Template:
    """A stack with the monitoring construct and one function granted alerting."""
    stack = cdk.Stack(cdk.App(), "MonitoringTest")
    monitoring = Monitoring(stack, "Monitoring")
    checker = lambda_.Function(
        stack,
        "Checker",
        function_name="checker",
        runtime=lambda_.Runtime.PYTHON_3_13,
        handler="handler.lambda_handler",
        code=lambda_.Code.from_inline("def lambda_handler(event, context): pass"),
    )
    monitoring.grant_alerting(checker)
    return Template.from_stack(stack)


def alarm(template: Template, name: str) -> dict:
    found = template.find_resources("AWS::CloudWatch::Alarm", {"Properties": {"AlarmName": name}})
    assert len(found) == 1, f"expected one alarm {name}, found {list(found)}"
    return next(iter(found.values()))["Properties"]


def policy_actions(template: Template) -> set[str]:
    actions = set()
    for policy in template.find_resources("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            listed = statement["Action"]
            actions.update([listed] if isinstance(listed, str) else listed)
    return actions


def test_the_bucket_and_topic_have_their_fixed_names(template):
    template.has_resource(
        "AWS::S3::Bucket",
        {
            "Properties": Match.object_like({"BucketName": MONITORING_BUCKET}),
            "DeletionPolicy": "Retain",
        },
    )
    template.has_resource_properties("AWS::SNS::Topic", {"TopicName": ALERTS_TOPIC})


def test_the_drift_alarm_fires_on_one_detection_in_a_minute_and_notifies_the_topic(template):
    properties = alarm(template, DRIFT_ALARM)
    assert properties["Namespace"] == METRIC_NAMESPACE
    assert properties["MetricName"] == DRIFT_METRIC
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
    assert {"sns:Publish", "cloudwatch:PutMetricData", "s3:PutObject"} <= policy_actions(template)
