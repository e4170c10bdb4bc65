"""The four buckets of the data flow, named as in System A so existing tooling keeps working, and
the per-subject serving registry."""

from aws_cdk import RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct

from p300_aws.names import (
    FEATURES_BUCKET,
    LANDING_BUCKET,
    MLFLOW_ARTIFACTS_BUCKET,
    MODEL_SERVING_BUCKET,
    RAW_BUCKET,
)


class Storage(Construct):
    """Landing zone (emits EventBridge events), raw and features (versioned), MLflow artifacts,
    and the serving registry of per-subject models (versioned: every routing document kept).

    Buckets are named and retained: data outlives a stack deletion, and a redeploy adopts them.
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.landing = self._bucket("LandingZone", LANDING_BUCKET, versioned=False)
        # `event_bridge_enabled=True` would add a Lambda-backed custom resource; the plain
        # CloudFormation property does the same thing without one.
        self.landing.node.default_child.add_property_override(
            "NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled", True
        )
        self.raw = self._bucket("RawData", RAW_BUCKET, versioned=True)
        self.features = self._bucket("ProcessedFeatures", FEATURES_BUCKET, versioned=True)
        self.mlflow_artifacts = self._bucket(
            "MlflowArtifacts", MLFLOW_ARTIFACTS_BUCKET, versioned=False
        )
        self.model_serving = self._bucket("ModelServing", MODEL_SERVING_BUCKET, versioned=True)

    def _bucket(self, construct_id: str, name: str, *, versioned: bool) -> s3.Bucket:
        return s3.Bucket(
            self,
            construct_id,
            bucket_name=name,
            versioned=versioned,
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            removal_policy=RemovalPolicy.RETAIN,
        )
