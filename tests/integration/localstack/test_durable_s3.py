"""Durable S3: everything acknowledged comes back after a clean stop and after a kill -9."""

import hashlib
import json
import threading
import time

import botocore.exceptions
import pytest

from p300_ops.localcloud.processes import kill_server, stop_server
from tests.integration.localstack.conftest import launch
from tests.integration.localstack.s3_scenario import (
    PART_BYTES,
    PUBLIC_READ_POLICY,
    blob,
    describe,
    populate,
    s3_client,
)

pytestmark = [pytest.mark.cloud, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def populated(tmp_path_factory):
    """A home whose LocalStack holds the populate() scenario; yields a mutable run record:
    ``scenario`` is the state populate() made, ``expected`` the state acknowledged last (tests
    that change the bucket update it, so the tests pass in any order)."""
    home = tmp_path_factory.mktemp("durable-s3")
    run = {"home": home, "server": launch(home)}
    s3 = s3_client(run["server"])
    run["open_upload"] = populate(s3)
    run["scenario"] = run["expected"] = describe(s3)
    yield run
    stop_server(run["server"])


def test_scenario_is_what_we_expect(populated):
    state = populated["scenario"]
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
    populated["expected"] = expected
    body = s3.get_object(Bucket="plain", Key="mpu/open.bin")["Body"].read()
    assert body == blob(5, PART_BYTES) + b"tail"
    assert "copy.edf" not in [v[0] for v in expected["plain"]["versions"]]


#: Acknowledged PUTs (of 4 writers) before LocalStack is killed.
KILL_AFTER_ACKS = 200


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
        threading.Thread(target=_writer, args=(server, "landing", w, acked, stop), daemon=True)
        for w in range(4)
    ]
    for thread in writers:
        thread.start()
    deadline = time.monotonic() + 120
    while len(acked) < KILL_AFTER_ACKS and time.monotonic() < deadline:
        time.sleep(0.05)
    kill_server(server)  # mid-writes: the writers are still sending
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
    assert len(acked) >= KILL_AFTER_ACKS, f"too few writes acknowledged to be a test: {len(acked)}"
    assert lost == [], f"{len(lost)} of {len(acked)} acknowledged PUTs lost"
