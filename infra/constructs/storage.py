"""The four buckets of the data flow, named as in System A so existing tooling keeps working, the
per-subject serving registry, and the bucket their access logs go to.

Every bucket blocks public access, encrypts at rest with SSE-S3 (S3-managed AES-256 keys),
denies any request not made over TLS (a bucket policy on ``aws:SecureTransport``) and, but for
the log bucket itself, writes server access logs to ``p300-access-logs`` under its own name.
"""

from aws_cdk import RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.constructs.security import suppress
from p300_aws.names import (
    ACCESS_LOGS_BUCKET,
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
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            bucket_name=ACCESS_LOGS_BUCKET,
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        suppress(
            self.access_logs,
            "AwsSolutions-S1",
            "The log bucket itself: logging its own access would log every log delivery.",
        )
        suppress(
            self.access_logs,
            "HIPAA.Security-S3BucketLoggingEnabled",
            "The log bucket itself: logging its own access would log every log delivery.",
        )
        suppress(
            self.access_logs,
            "HIPAA.Security-S3BucketVersioningEnabled",
            "Access logs are written once by S3's log delivery and never rewritten.",
        )
        for rule, reason in _BUCKET_FINDINGS.items():
            suppress(self.access_logs, rule, reason)
        self.landing = self.bucket("LandingZone", LANDING_BUCKET, versioned=False)
        # `event_bridge_enabled=True` would add a Lambda-backed custom resource; the plain
        # CloudFormation property does the same thing without one.
        self.landing.node.default_child.add_property_override(
            "NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled", True
        )
        suppress(
            self.landing,
            "HIPAA.Security-S3BucketVersioningEnabled",
            "A transient drop zone: each upload is copied to the versioned raw bucket, then "
            "deleted; versions would keep every deleted recording.",
        )
        self.raw = self.bucket("RawData", RAW_BUCKET, versioned=True)
        self.features = self.bucket("ProcessedFeatures", FEATURES_BUCKET, versioned=True)
        self.mlflow_artifacts = self.bucket(
            "MlflowArtifacts", MLFLOW_ARTIFACTS_BUCKET, versioned=False
        )
        suppress(
            self.mlflow_artifacts,
            "HIPAA.Security-S3BucketVersioningEnabled",
            "MLflow writes each run's artifacts once under the run's own id and never rewrites "
            "them; features and models derive from the versioned raw and features buckets.",
        )
        self.model_serving = self.bucket("ModelServing", MODEL_SERVING_BUCKET, versioned=True)

    def bucket(self, construct_id: str, name: str, *, versioned: bool) -> s3.Bucket:
        return secure_bucket(
            self, construct_id, name, versioned=versioned, access_logs=self.access_logs
        )


def secure_bucket(
    scope: Construct, construct_id: str, name: str, *, versioned: bool, access_logs: s3.IBucket
) -> s3.Bucket:
    """A retained, private, SSE-S3, TLS-only bucket logging its access to ``access_logs`` under
    ``<name>/`` (the other constructs' buckets are made by it too)."""
    bucket = s3.Bucket(
        scope,
        construct_id,
        bucket_name=name,
        versioned=versioned,
        encryption=s3.BucketEncryption.S3_MANAGED,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        server_access_logs_bucket=access_logs,
        server_access_logs_prefix=f"{name}/",
        removal_policy=RemovalPolicy.RETAIN,
    )
    for rule, reason in _BUCKET_FINDINGS.items():
        suppress(bucket, rule, reason)
    return bucket


_BUCKET_FINDINGS = {
    "HIPAA.Security-S3DefaultEncryptionKMS": (
        "Encrypted at rest with SSE-S3 (AES-256, S3-managed keys): a customer-managed KMS key "
        "is a deployment option (a key policy and its cost), not needed to encrypt."
    ),
    "HIPAA.Security-S3BucketReplicationEnabled": (
        "One-region deployment: S3 stores each object across several availability zones; "
        "cross-region replication is a deployment choice (a second region's bucket)."
    ),
}
