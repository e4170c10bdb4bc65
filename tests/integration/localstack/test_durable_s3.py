"""Durable S3: everything acknowledged comes back after a clean stop and after a kill -9."""

import hashlib
import json
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import botocore.exceptions
import pytest
from botocore.config import Config

from p300_ops.localcloud.localstack import aws_client, start_localstack
from p300_ops.localcloud.processes import ServerProcess, free_port, kill_server, stop_server

pytestmark = pytest.mark.cloud

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


def launch(home: Path, env_overrides: Mapping[str, str] | None = None) -> ServerProcess:
    return start_localstack(home, port=free_port(), env_overrides=env_overrides)


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


@pytest.fixture(scope="module")
def populated(tmp_path_factory):
    """A home whose LocalStack holds the populate() scenario; yields a mutable run record."""
    home = tmp_path_factory.mktemp("durable-s3")
    run = {"home": home, "server": launch(home)}
    s3 = s3_client(run["server"])
    run["open_upload"] = populate(s3)
    run["expected"] = describe(s3)
    yield run
    stop_server(run["server"])


def test_scenario_is_what_we_expect(populated):
    state = populated["expected"]
    assert set(state) == {"plain", "suspended", "versioned"}
    plain_keys = [v[0] for v in state["plain"]["versions"]]
    assert sorted(plain_keys) == ["copy.edf", "mpu/done.bin", "raw/big.bin", "raw/s01.edf"]
    assert state["plain"]["notification"]["EventBridgeConfiguration"] == {}
    assert json.loads(state["plain"]["policy"]["Policy"]) == PUBLIC_READ_POLICY
    assert state["plain"]["tags"]["TagSet"] == [{"Key": "team", "Value": "p300"}]
    assert len(state["plain"]["uploads"]) == 1
    assert len(state["versioned"]["versions"]) == 4
    assert len(state["versioned"]["delete_markers"]) == 1
    assert sorted(v[1] for v in state["suspended"]["versions"])[-1] == "null"


@pytest.mark.parametrize("how", ["clean stop", "kill -9"])
def test_everything_comes_back_after_restart(populated, how):
    (stop_server if how == "clean stop" else kill_server)(populated["server"])
    populated["server"] = launch(populated["home"])
    assert describe(s3_client(populated["server"])) == populated["expected"]


def test_changes_after_a_restart_are_durable_too(populated):
    s3 = s3_client(populated["server"])
    upload_id = populated["open_upload"]
    part = s3.upload_part(
        Bucket="plain", Key="mpu/open.bin", UploadId=upload_id, PartNumber=2, Body=b"tail"
    )
    first = s3.list_parts(Bucket="plain", Key="mpu/open.bin", UploadId=upload_id)["Parts"][0]
    s3.complete_multipart_upload(
        Bucket="plain",
        Key="mpu/open.bin",
        UploadId=upload_id,
        MultipartUpload={
            "Parts": [
                {"PartNumber": 1, "ETag": first["ETag"]},
                {"PartNumber": 2, "ETag": part["ETag"]},
            ]
        },
    )
    s3.delete_object(Bucket="plain", Key="copy.edf")
    expected = describe(s3)
    kill_server(populated["server"])
    populated["server"] = launch(populated["home"])
    s3 = s3_client(populated["server"])
    assert describe(s3) == expected
    body = s3.get_object(Bucket="plain", Key="mpu/open.bin")["Body"].read()
    assert body == blob(5, PART_BYTES) + b"tail"
    assert "copy.edf" not in [v[0] for v in expected["plain"]["versions"]]


def _writer(server, bucket: str, worker: int, acked: dict, stop: threading.Event) -> None:
    s3 = s3_client(server)
    n = 0
    while not stop.is_set():
        key = f"w{worker}/{n:05d}"
        body = blob(worker * 1_000_000 + n, 512 + (n * 7919) % (300 * 1024))
        try:
            response = s3.put_object(Bucket=bucket, Key=key, Body=body)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
            return
        if response["ResponseMetadata"]["HTTPStatusCode"] == 200:
            acked[key] = (hashlib.sha256(body).hexdigest(), response["ETag"])
        n += 1


def test_no_acknowledged_put_is_lost_when_killed_mid_writes(tmp_path):
    server = launch(tmp_path)
    s3_client(server).create_bucket(Bucket="landing")
    acked: dict[str, tuple[str, str]] = {}
    stop = threading.Event()
    writers = [
        threading.Thread(target=_writer, args=(server, "landing", w, acked, stop)) for w in range(4)
    ]
    for thread in writers:
        thread.start()
    time.sleep(4)
    kill_server(server)
    stop.set()
    for thread in writers:
        thread.join(timeout=60)
    server = launch(tmp_path)
    try:
        s3 = s3_client(server)
        lost = []
        for key, (digest, etag) in acked.items():
            try:
                got = s3.get_object(Bucket="landing", Key=key)
            except s3.exceptions.NoSuchKey:
                lost.append(key)
                continue
            if hashlib.sha256(got["Body"].read()).hexdigest() != digest or got["ETag"] != etag:
                lost.append(key)
    finally:
        stop_server(server)
    assert len(acked) > 50, f"too few writes acknowledged to be a test: {len(acked)}"
    assert lost == [], f"{len(lost)} of {len(acked)} acknowledged PUTs lost"


def test_a_put_that_cannot_be_journaled_gets_a_500(tmp_path):
    fault_file = tmp_path / "fail-journal"
    server = launch(tmp_path / "home", {"P300_S3_FAULT_FILE": str(fault_file)})
    try:
        s3 = s3_client(server)
        s3.create_bucket(Bucket="faulty")
        fault_file.touch()
        with pytest.raises(botocore.exceptions.ClientError, match="InternalError") as failure:
            s3.put_object(Bucket="faulty", Key="unsaved", Body=b"x")
        assert failure.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        os.unlink(fault_file)
        s3.put_object(Bucket="faulty", Key="saved", Body=b"y")
        kill_server(server)
        server = launch(tmp_path / "home")
        s3 = s3_client(server)
        assert s3.get_object(Bucket="faulty", Key="saved")["Body"].read() == b"y"
    finally:
        stop_server(server)
