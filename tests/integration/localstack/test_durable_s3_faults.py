"""Durable S3 under faults: damaged files, lost blobs, failed writes, a full disk, form uploads,
and the cost of multipart uploads. Each test injects one fault into a real LocalStack."""

import json
import os
import re
import subprocess
import time
import uuid
from pathlib import Path

import botocore.exceptions
import pytest
import requests

from p300_ops.localcloud.processes import LocalCloudError, kill_server, stop_server
from tests.integration.localstack.conftest import client, launch
from tests.integration.localstack.s3_scenario import blob, describe, populate, s3_client

pytestmark = [pytest.mark.cloud, pytest.mark.timeout(600)]


def data_files(home: Path) -> dict[str, bytes]:
    """Every file of the durable S3 folder (but the spool), with its content."""
    folder = home / "s3"
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "spool" not in p.parts
    }


def flip_middle_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def newest(home: Path, pattern: str) -> Path:
    return max((home / "s3").glob(pattern), key=lambda p: int(p.stem.split("-")[1]))


def refused_start(home: Path) -> str:
    """The error of a LocalStack start that must fail (one that starts is stopped, and fails
    the test)."""
    try:
        server = launch(home)
    except LocalCloudError as error:
        return str(error)
    stop_server(server)
    pytest.fail("LocalStack started on damaged durable S3 state")


def test_a_flipped_bit_in_a_snapshot_stops_start_up_and_salvage_loses_nothing(tmp_path):
    home = tmp_path / "home"
    server = launch(home)
    populate(s3_client(server))
    expected = describe(s3_client(server))
    stop_server(server)  # a clean stop compacts: the newest snapshot holds everything
    snapshot = newest(home, "snapshot-*.snap")
    flip_middle_byte(snapshot)
    before = data_files(home)

    report = refused_start(home)

    assert report.startswith("LocalStack did not start: durable S3 refused to start")
    assert f"{snapshot.name} is corrupt at byte" in report
    assert "The previous generation is complete" in report
    assert data_files(home) == before  # nothing compacted, moved or deleted
    server = launch(home, {"P300_S3_RECOVERY": "salvage"})
    try:
        assert describe(s3_client(server)) == expected
        assert [p.name.endswith(snapshot.name) for p in (home / "s3/quarantine").iterdir()] == [
            True
        ]
    finally:
        stop_server(server)


def test_a_flipped_bit_in_the_middle_of_the_journal_stops_start_up_and_keeps_the_blobs(tmp_path):
    home = tmp_path / "home"
    server = launch(home)
    s3 = s3_client(server)
    s3.create_bucket(Bucket="eeg")
    for n in range(40):
        s3.put_object(Bucket="eeg", Key=f"s{n:02d}.edf", Body=blob(n, 3000))
    kill_server(server)  # no compaction: the 41 records are in the journal
    journal = newest(home, "journal-*.log")
    flip_middle_byte(journal)

    report = refused_start(home)

    assert re.search(rf"{journal.name} is corrupt at byte \d+", report)
    assert "No complete copy exists" in report
    blobs_before = set((home / "s3/blobs").iterdir())
    server = launch(home, {"P300_S3_RECOVERY": "salvage"})
    try:
        listed = s3_client(server).list_objects_v2(Bucket="eeg")["Contents"]
        assert 38 <= len(listed) < 40  # one or two records were in the damaged bytes
        assert set((home / "s3/blobs").iterdir()) == blobs_before  # the lost ones' too
        assert "blob collection is off" in Path(server.log_path).read_text()
    finally:
        stop_server(server)


def blob_holding(home: Path, content: bytes) -> Path:
    return next(p for p in (home / "s3/blobs").iterdir() if p.read_bytes() == content)


def test_a_lost_blob_stops_start_up_and_a_damaged_one_fails_its_reads_naming_the_key(tmp_path):
    home = tmp_path / "home"
    server = launch(home)
    s3 = s3_client(server)
    s3.create_bucket(Bucket="eeg")
    s3.put_object(Bucket="eeg", Key="raw/a.edf", Body=b"subject a" * 100)
    s3.put_object(Bucket="eeg", Key="raw/b.edf", Body=b"subject b" * 100)
    kill_server(server)
    lost = blob_holding(home, b"subject a" * 100)
    lost.rename(tmp_path / "saved-blob")

    assert f"s3://eeg/raw/a.edf: blob {lost.name} is missing" in refused_start(home)

    damaged = bytearray((tmp_path / "saved-blob").read_bytes())
    damaged[5] ^= 0x01  # same size: only the MD5 check on read can tell
    lost.write_bytes(bytes(damaged))
    server = launch(home)
    try:
        s3 = s3_client(server)
        with pytest.raises(botocore.exceptions.ClientError) as failure:
            s3.get_object(Bucket="eeg", Key="raw/a.edf")["Body"].read()
        assert failure.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        assert "the content of s3://eeg/raw/a.edf is damaged" in str(failure.value)
        assert s3.get_object(Bucket="eeg", Key="raw/b.edf")["Body"].read() == b"subject b" * 100
    finally:
        stop_server(server)


def watch_bucket(server, bucket: str) -> str:
    """Send the bucket's Object Created events through EventBridge to a new SQS queue (its URL)."""
    sqs, events = client(server, "sqs"), client(server, "events")
    queue_url = sqs.create_queue(QueueName=f"{bucket}-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    pattern = {"source": ["aws.s3"], "detail": {"bucket": {"name": [bucket]}}}
    events.put_rule(Name=f"{bucket}-created", EventPattern=json.dumps(pattern))
    events.put_targets(Rule=f"{bucket}-created", Targets=[{"Id": "queue", "Arn": queue_arn}])
    s3_client(server).put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    return queue_url


def announced_etags(server, queue_url: str, *, until: str) -> list[str]:
    """ETags of the Object Created events received, once the event with ETag `until` arrived
    (and a second more, for any stragglers)."""
    sqs, etags = client(server, "sqs"), []
    deadline, settle_at = time.monotonic() + 30, None
    while time.monotonic() < deadline and (settle_at is None or time.monotonic() < settle_at):
        for message in sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            etags.append(json.loads(message["Body"])["detail"]["object"]["etag"])
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        if until in etags and settle_at is None:
            settle_at = time.monotonic() + 1
    return etags


@pytest.mark.parametrize("fault", ["journal", "blob"])
def test_a_write_that_cannot_be_saved_is_undone_and_announces_nothing(tmp_path, fault):
    """The journal append fails (4), or saving the content fails on close (3): the client gets a
    500, the previous state is back at once, no S3 event leaves, no temp file stays, and the
    next writes of the same keys work at once (they used to wait 30 s, then fail)."""
    fault_file = tmp_path / "fault"
    home = tmp_path / "home"
    server = launch(home, {"P300_S3_FAULT_FILE": str(fault_file)})
    try:
        s3 = s3_client(server)
        s3.create_bucket(Bucket="landing")
        queue_url = watch_bucket(server, "landing")
        s3.create_bucket(Bucket="models")
        s3.put_bucket_versioning(Bucket="models", VersioningConfiguration={"Status": "Enabled"})
        old = s3.put_object(Bucket="landing", Key="s01.parquet", Body=b"old")["ETag"].strip('"')
        s3.put_object(Bucket="models", Key="model.json", Body=b"v1")
        fault_file.write_text(fault)

        for bucket, key, body in [
            ("landing", "s01.parquet", b"new"),
            ("models", "model.json", b"v2"),
        ]:
            with pytest.raises(botocore.exceptions.ClientError) as failure:
                s3.put_object(Bucket=bucket, Key=key, Body=body)
            assert failure.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        current = s3.get_object(Bucket="landing", Key="s01.parquet")
        versions = s3.list_object_versions(Bucket="models")["Versions"]
        leftovers = [p.name for p in (home / "s3/blobs").iterdir() if p.name.startswith(".tmp")]
        fault_file.unlink()
        newer = s3.put_object(Bucket="landing", Key="s01.parquet", Body=b"newer")["ETag"]
        s3.put_object(Bucket="models", Key="model.json", Body=b"v3")

        assert current["Body"].read() == b"old" and current["ETag"].strip('"') == old
        assert len(versions) == 1
        assert leftovers == []
        assert announced_etags(server, queue_url, until=newer.strip('"')) == [
            old,
            newer.strip('"'),
        ]
        kill_server(server)
        server = launch(home)
        s3 = s3_client(server)
        assert s3.get_object(Bucket="landing", Key="s01.parquet")["Body"].read() == b"newer"
        bodies = [
            s3.get_object(Bucket="models", Key="model.json", VersionId=v["VersionId"])[
                "Body"
            ].read()
            for v in s3.list_object_versions(Bucket="models")["Versions"]
        ]
        assert sorted(bodies) == [b"v1", b"v3"]
    finally:
        stop_server(server)


@pytest.fixture
def small_disk(tmp_path):
    """A 24 MiB tmpfs mounted for the test and unmounted after (needs root: mount)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a size-limited tmpfs needs root")
    mount_point = tmp_path / f"disk-{uuid.uuid4().hex[:8]}"
    mount_point.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount_point)], check=True
    )
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=True)


def test_a_full_disk_refuses_writes_clearly_and_service_resumes_when_space_returns(
    tmp_path, small_disk
):
    home = tmp_path / "home"
    overrides = {"P300_S3_DATA_DIR": str(small_disk / "s3"), "P300_S3_COMPACT_BYTES": "262144"}
    server = launch(home, overrides)
    try:
        s3 = s3_client(server)
        s3.create_bucket(Bucket="landing")
        for n in range(30):  # several compactions on the way
            s3.put_object(Bucket="landing", Key=f"before/{n}", Body=blob(n, 64 * 1024))
        filler = small_disk / "filler"
        with open(filler, "wb") as out, pytest.raises(OSError, match="No space left"):
            for _ in range(24 * 16 + 1):  # one 64 KiB block more than the disk holds
                out.write(b"\0" * 65536)
                out.flush()

        with pytest.raises(botocore.exceptions.ClientError) as refused:
            s3.put_object(Bucket="landing", Key="during", Body=blob(99, 64 * 1024))
        readable = s3.get_object(Bucket="landing", Key="before/7")["Body"].read()
        filler.unlink()
        s3.put_object(Bucket="landing", Key="after", Body=b"space is back")

        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        assert "not enough disk space for durable S3" in str(refused.value)
        assert readable == blob(7, 64 * 1024)
        kill_server(server)
        server = launch(home, overrides)
        keys = {o["Key"] for o in s3_client(server).list_objects_v2(Bucket="landing")["Contents"]}
        assert keys == {f"before/{n}" for n in range(30)} | {"after"}
    finally:
        stop_server(server)


def test_a_form_upload_answered_303_is_durable(tmp_path):
    home = tmp_path / "home"
    server = launch(home)
    try:
        s3 = s3_client(server)
        s3.create_bucket(Bucket="uploads")
        redirect = "http://127.0.0.1:9/uploaded"
        form = s3.generate_presigned_post(
            Bucket="uploads",
            Key="form/session.edf",
            Fields={"success_action_redirect": redirect},
            Conditions=[{"success_action_redirect": redirect}],
        )
        answer = requests.post(
            form["url"],
            data=form["fields"],
            files={"file": ("session.edf", b"recorded in a browser")},
            allow_redirects=False,
            timeout=30,
        )
        assert answer.status_code == 303
        kill_server(server)
        server = launch(home)
        got = s3_client(server).get_object(Bucket="uploads", Key="form/session.edf")
        assert got["Body"].read() == b"recorded in a browser"
    finally:
        stop_server(server)


def test_multipart_journal_bytes_grow_linearly_with_the_part_count(tmp_path):
    """Each UploadPart used to journal the whole upload: the 40th part wrote 40 parts."""
    home = tmp_path / "home"
    server = launch(home)
    try:
        s3 = s3_client(server)
        s3.create_bucket(Bucket="big")
        upload = s3.create_multipart_upload(Bucket="big", Key="recording.bin")["UploadId"]
        journal = newest(home, "journal-*.log")
        sizes = []
        for number in range(1, 41):
            s3.upload_part(
                Bucket="big", Key="recording.bin", UploadId=upload, PartNumber=number, Body=b"p"
            )
            sizes.append(journal.stat().st_size)
    finally:
        stop_server(server)
    first_ten, last_ten = sizes[10] - sizes[0], sizes[39] - sizes[29]
    assert last_ten < 1.2 * first_ten, (first_ten, last_ten)
