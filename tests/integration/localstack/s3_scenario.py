"""The S3 scenario the durable S3 tests store, restart and compare, and clients for it."""

import hashlib
import json

import botocore.exceptions
from botocore.config import Config

from p300_ops.localcloud.localstack import aws_client
from p300_ops.localcloud.processes import ServerProcess

MB = 1024 * 1024
PART_BYTES = 5 * MB
PUBLIC_READ_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::plain/*",
        }
    ],
}


def s3_client(server: ServerProcess):
    # No retries: a test must see the answer to its one request.
    config = Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=30)
    return aws_client("s3", server.port, config=config)


def blob(seed: int, size: int) -> bytes:
    """`size` deterministic pseudo-random bytes."""
    return hashlib.shake_256(seed.to_bytes(8, "little")).digest(size)


def populate(s3) -> str:
    """A mix of buckets and objects; returns the upload id of the multipart left in progress."""
    s3.create_bucket(Bucket="plain")
    s3.put_bucket_tagging(Bucket="plain", Tagging={"TagSet": [{"Key": "team", "Value": "p300"}]})
    s3.put_bucket_notification_configuration(
        Bucket="plain", NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    s3.put_bucket_cors(
        Bucket="plain",
        CORSConfiguration={"CORSRules": [{"AllowedMethods": ["GET"], "AllowedOrigins": ["*"]}]},
    )
    s3.put_bucket_policy(Bucket="plain", Policy=json.dumps(PUBLIC_READ_POLICY))
    s3.put_object(
        Bucket="plain",
        Key="raw/s01.edf",
        Body=blob(1, 2048),
        ContentType="application/octet-stream",
        Metadata={"subject": "s01", "sfreq": "256"},
        Tagging="stage=raw&ok=1",
    )
    s3.put_object(Bucket="plain", Key="raw/big.bin", Body=blob(2, 6 * MB))
    s3.put_object(Bucket="plain", Key="gone", Body=b"soon deleted")
    s3.delete_object(Bucket="plain", Key="gone")
    s3.put_object(Bucket="plain", Key="batch/a", Body=b"a")
    s3.put_object(Bucket="plain", Key="batch/b", Body=b"b")
    s3.delete_objects(Bucket="plain", Delete={"Objects": [{"Key": "batch/a"}, {"Key": "batch/b"}]})
    s3.copy_object(
        Bucket="plain", Key="copy.edf", CopySource={"Bucket": "plain", "Key": "raw/s01.edf"}
    )
    # An in-place copy shares its content with the object it replaces.
    s3.copy_object(
        Bucket="plain",
        Key="raw/big.bin",
        CopySource={"Bucket": "plain", "Key": "raw/big.bin"},
        MetadataDirective="REPLACE",
        ContentType="application/x-test",
        Metadata={"rewritten": "yes"},
    )
    s3.put_object_tagging(
        Bucket="plain", Key="copy.edf", Tagging={"TagSet": [{"Key": "copied", "Value": "1"}]}
    )
    done = s3.create_multipart_upload(Bucket="plain", Key="mpu/done.bin", ContentType="x/mpu")
    parts = [
        s3.upload_part(
            Bucket="plain", Key="mpu/done.bin", UploadId=done["UploadId"], PartNumber=n, Body=body
        )
        for n, body in ((1, blob(3, PART_BYTES)), (2, blob(4, MB)))
    ]
    s3.complete_multipart_upload(
        Bucket="plain",
        Key="mpu/done.bin",
        UploadId=done["UploadId"],
        MultipartUpload={
            "Parts": [{"PartNumber": n, "ETag": p["ETag"]} for n, p in enumerate(parts, 1)]
        },
    )
    open_upload = s3.create_multipart_upload(Bucket="plain", Key="mpu/open.bin")
    s3.upload_part(
        Bucket="plain",
        Key="mpu/open.bin",
        UploadId=open_upload["UploadId"],
        PartNumber=1,
        Body=blob(5, PART_BYTES),
    )

    s3.create_bucket(Bucket="versioned")
    s3.put_bucket_versioning(Bucket="versioned", VersioningConfiguration={"Status": "Enabled"})
    for n in range(3):
        s3.put_object(Bucket="versioned", Key="model.json", Body=f"v{n}".encode())
    s3.put_object(Bucket="versioned", Key="erased", Body=b"x")
    s3.delete_object(Bucket="versioned", Key="erased")  # leaves a delete marker

    s3.create_bucket(Bucket="suspended")
    s3.put_object(Bucket="suspended", Key="k", Body=b"before versioning")
    s3.put_bucket_versioning(Bucket="suspended", VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket="suspended", Key="k", Body=b"versioned")
    s3.put_bucket_versioning(Bucket="suspended", VersioningConfiguration={"Status": "Suspended"})
    s3.put_object(Bucket="suspended", Key="k", Body=b"null again")

    s3.create_bucket(Bucket="scratch")
    s3.put_object(Bucket="scratch", Key="tmp", Body=b"t")
    s3.delete_object(Bucket="scratch", Key="tmp")
    s3.delete_bucket(Bucket="scratch")
    return open_upload["UploadId"]


def _without_metadata(response: dict) -> dict:
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


def _optional(call, **kwargs):
    try:
        return _without_metadata(call(**kwargs))
    except botocore.exceptions.ClientError as error:
        return error.response["Error"]["Code"]


def describe(s3) -> dict:
    """Everything a client can observe of every bucket, with a digest of every content."""
    state = {}
    for bucket in sorted(b["Name"] for b in s3.list_buckets()["Buckets"]):
        listing = s3.list_object_versions(Bucket=bucket)
        versions = []
        for v in listing.get("Versions", []):
            args = {"Bucket": bucket, "Key": v["Key"], "VersionId": v["VersionId"]}
            got = s3.get_object(**args)
            versions.append(
                (
                    v["Key"],
                    v["VersionId"],
                    v["IsLatest"],
                    v["ETag"],
                    v["Size"],
                    v["LastModified"],
                    got["ContentType"],
                    got["Metadata"],
                    hashlib.sha256(got["Body"].read()).hexdigest(),
                    s3.get_object_tagging(**args)["TagSet"],
                )
            )
        uploads = []
        for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
            listed = s3.list_parts(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"])
            parts = [(p["PartNumber"], p["ETag"], p["Size"]) for p in listed["Parts"]]
            uploads.append((u["Key"], u["UploadId"], u["Initiated"], parts))
        state[bucket] = {
            "versioning": s3.get_bucket_versioning(Bucket=bucket).get("Status"),
            "notification": _optional(s3.get_bucket_notification_configuration, Bucket=bucket),
            "tags": _optional(s3.get_bucket_tagging, Bucket=bucket),
            "cors": _optional(s3.get_bucket_cors, Bucket=bucket),
            "policy": _optional(s3.get_bucket_policy, Bucket=bucket),
            "versions": versions,
            "delete_markers": [
                (m["Key"], m["VersionId"], m["IsLatest"], m["LastModified"])
                for m in listing.get("DeleteMarkers", [])
            ],
            "uploads": uploads,
        }
    return state
