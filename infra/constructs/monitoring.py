"""Monitoring: the alerts bucket and topic, the drift and health alarms, and the health probe.

Alerts are JSON objects under ``alerts/`` of ``p300-monitoring`` and messages on the SNS topic
``p300-alerts`` (`p300_aws.alerts`). Each alarm watches one metric of the ``P300`` namespace and
notifies the same topic when it goes into ALARM and back to OK.
"""

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.constructs.functions import python_function
from infra.constructs.security import grant_objects, suppress
from infra.constructs.storage import secure_bucket
from p300_aws.alerts import ALERTS_PREFIX, TOPIC_ARN_ENV
from p300_aws.health_probe import STATE_KEY
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
    PREDICT_FUNCTION,
)

#: Alarms look at one period of this length.
ALARM_PERIOD = Duration.seconds(60)
PROBE_SCHEDULE = events.Schedule.rate(Duration.minutes(1))
#: Two sequential GETs of at most 20 s each, plus a cold start.
PROBE_TIMEOUT = Duration.seconds(60)


class Monitoring(Construct):
    """Alerts bucket and topic, and the alarms on the ``P300`` metrics.

    Attributes
    ----------
    bucket : s3.Bucket
        ``p300-monitoring``: alerts, and the health probe's last state.
    topic : sns.Topic
        ``p300-alerts``: every alert and every alarm state change.
    drift_alarm, data_quality_alarm, health_alarm : cloudwatch.Alarm
        ``DriftDetected`` / ``DataQuality`` / ``HealthProbeFailures`` maximum ≥ 1 in a 60 s
        period.
    probe : lambda_.Function
        ``p300-health-probe``, run every minute by `probe_rule`.

    Parameters
    ----------
    function_layers
        Layer name → built layer (the pipeline's); the probe gets only ``core``.
    api
        The prediction API whose routes are probed.
    access_logs
        Where the bucket's server access logs go.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function_layers: dict[str, lambda_.ILayerVersion],
        api: apigw.RestApi,
        access_logs: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        self.bucket = secure_bucket(
            self, "Bucket", MONITORING_BUCKET, versioned=False, access_logs=access_logs
        )
        suppress(
            self.bucket,
            "HIPAA.Security-S3BucketVersioningEnabled",
            "Alerts are written once under their own time-stamped key; the probe's state is a "
            "cache of the last probe, rebuilt by the next one.",
        )
        # Publishers must use TLS (a topic policy denying aws:SecureTransport false).
        self.topic = sns.Topic(self, "AlertsTopic", topic_name=ALERTS_TOPIC, enforce_ssl=True)
        suppress(
            self.topic,
            "HIPAA.Security-SNSEncryptedKMS",
            "Alert messages name alarms, metrics, studies and S3 keys, never EEG data; they "
            "travel over TLS only. A KMS key is a deployment option.",
        )
        self.drift_alarm = self._alarm(
            "DriftAlarm",
            DRIFT_ALARM,
            DRIFT_METRIC,
            "Incoming EEG differs from the training data (p300 alerts --kind drift).",
        )
        self.data_quality_alarm = self._alarm(
            "DataQualityAlarm",
            DATA_QUALITY_ALARM,
            DATA_QUALITY_METRIC,
            "A recording was rejected or kept few of its epochs (p300 alerts --kind data-quality).",
        )
        self.health_alarm = self._alarm(
            "HealthAlarm",
            HEALTH_ALARM,
            HEALTH_METRIC,
            "A deployed serving alias fails its /health probe (p300 alerts --kind health).",
        )
        self.probe = self._probe(function_layers, api)
        self.probe_rule = events.Rule(
            self,
            "HealthProbeSchedule",
            description="Every minute: probe /health of the champion and challenger routes.",
            schedule=PROBE_SCHEDULE,
            targets=[targets.LambdaFunction(self.probe)],
        )

    def grant_alerting(self, function: lambda_.Function) -> None:
        """Let ``function`` raise alerts and publish metrics; sets ``ALERTS_TOPIC_ARN``."""
        function.add_environment(TOPIC_ARN_ENV, self.topic.topic_arn)
        self.topic.grant_publish(function)
        grant_objects(
            function.role,
            self.bucket,
            access=("write",),
            prefix=ALERTS_PREFIX,
            why="one alert object per event, keyed by time",
        )
        # PutMetricData has no resource: the namespace condition is the scope.
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": METRIC_NAMESPACE}},
            )
        )
        suppress(
            function,
            "AwsSolutions-IAM5",
            f"cloudwatch:PutMetricData supports no resource-level permission; the statement is "
            f"limited to the {METRIC_NAMESPACE} namespace by a condition.",
            applies_to=["Resource::*"],
        )

    def _probe(
        self, function_layers: dict[str, lambda_.ILayerVersion], api: apigw.RestApi
    ) -> lambda_.Function:
        probe = python_function(
            self,
            "HealthProbe",
            HEALTH_PROBE_FUNCTION,
            function_layers=function_layers,
            memory_mb=256,
            timeout=PROBE_TIMEOUT,
            environment={"P300_API_ID": api.rest_api_id},
        )
        self.grant_alerting(probe)
        probe.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:PutObject"],
                resources=[self.bucket.arn_for_objects(STATE_KEY)],
            )
        )
        # Which aliases exist: an alias never deployed is not probed (no alert before a release).
        stack = Stack.of(self)
        probe.add_to_role_policy(
            iam.PolicyStatement(
                actions=["lambda:ListAliases"],
                resources=[
                    stack.format_arn(
                        service="lambda",
                        resource="function",
                        resource_name=PREDICT_FUNCTION,
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            )
        )
        return probe

    def _alarm(
        self, construct_id: str, alarm_name: str, metric_name: str, description: str
    ) -> cloudwatch.Alarm:
        # No data means no check ran (or no alias is deployed): not a breach.
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            alarm_name=alarm_name,
            alarm_description=description,
            metric=cloudwatch.Metric(
                namespace=METRIC_NAMESPACE,
                metric_name=metric_name,
                statistic=cloudwatch.Stats.MAXIMUM,
                period=ALARM_PERIOD,
            ),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        action = cloudwatch_actions.SnsAction(self.topic)
        alarm.add_alarm_action(action)
        alarm.add_ok_action(action)
        return alarm
