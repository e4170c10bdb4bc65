"""The upload API on the local cloud: 403 without the key (even with a token), presigned
uploads that the pipeline processes, and `p300 record --replay` streaming a recording in parts."""

import json
import time
import urllib.parse
import uuid

import httpx
import pytest
from click.testing import CliRunner

from p300 import raw_io, synthetic
from p300_aws.names import FEATURES_BUCKET, LANDING_BUCKET, UPLOAD_API_NAME
from p300_ops.cli import main
from p300_ops.localcloud import localstack
from p300_ops.services.cloud import Cloud, api_url
from p300_ops.services.recording_replay import load_recording, send_recording
from p300_ops.services.upload_api_client import UploadApiError, UploadClient, api_key

pytestmark = [pytest.mark.cloud, pytest.mark.slow, pytest.mark.timeout(1200)]

#: Subjects unique per run, so a shared cloud's earlier data cannot interfere.
RUN = uuid.uuid4().hex[:6].upper()
PROCESSED_WITHIN_S = 300


@pytest.fixture(scope="module")
def aws(cloud):
    port = cloud.localstack_port
    return {name: localstack.aws_client(name, port) for name in ("s3", "apigateway")}


@pytest.fixture(scope="module")
def base_url(aws, cloud) -> str:
    return api_url(aws["apigateway"], UPLOAD_API_NAME, endpoint_url=cloud.endpoint_url)


@pytest.fixture(scope="module")
def token(cloud) -> str:
    """The CLI's own token of the upload API (its authorizer is tested in tests/integration/
    security/)."""
    return Cloud(cloud).api_token("upload")


@pytest.fixture(scope="module")
def client(aws, base_url, token) -> UploadClient:
    return UploadClient(base_url, api_key(aws["apigateway"]), token=token)


def recording_file(tmp_path, *, subject_number: int, duration_s: float):
    rec = synthetic.subject_session(
        seed=21, subject_number=subject_number, duration_s=duration_s, bad_channel_prob=0.0
    )
    path = tmp_path / f"rec{subject_number}.parquet"
    raw_io.write_recording_parquet(rec, path)
    return path


def wait_for_features(s3, subject: str, session: str) -> dict:
    key = f"study=system-a/subject={subject}/session={session}/features.parquet"
    deadline = time.monotonic() + PROCESSED_WITHIN_S
    while time.monotonic() < deadline:
        try:
            return s3.head_object(Bucket=FEATURES_BUCKET, Key=key)
        except s3.exceptions.ClientError:
            time.sleep(1.0)
    raise AssertionError(f"no features at {key} within {PROCESSED_WITHIN_S} s")


BODY = {"subject": "01", "session": "01"}


@pytest.mark.parametrize(
    "headers",
    [{}, {"x-api-key": "not-the-key"}, {"x-api-key": ""}],
    ids=["no key", "wrong key", "empty key"],
)
@pytest.mark.parametrize("path", ["/uploads", "/uploads/multipart", "/uploads/multipart/u/abort"])
def test_requests_without_the_right_key_are_forbidden(base_url, token, headers, path):
    """The key names the usage plan: a valid token without it is still refused."""
    headers = {**headers, "Authorization": f"Bearer {token}"}
    response = httpx.post(f"{base_url}{path}", json=BODY, headers=headers, timeout=60)
    assert response.status_code == 403, response.text


def test_a_bad_subject_answers_400_with_its_message(base_url, client):
    with pytest.raises(UploadApiError, match=r"HTTP 400: subject must be 1–64 letters") as error:
        client.request("/uploads", {"subject": "no good", "session": "01"})
    assert error.value.status == 400
    assert "got 'no good'" in str(error.value)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda url: url.replace("session_03", "session_04"),  # another key than the one signed
        lambda url: url.replace("X-Amz-Signature=", "X-Amz-Signature=0"),
    ],
    ids=["other key", "forged signature"],
)
def test_a_tampered_presigned_url_is_refused(aws, client, tamper):
    answer = client.request("/uploads", {"subject": f"T{RUN}", "session": "03"})
    response = httpx.put(tamper(answer["url"]), content=b"not a recording", timeout=60)
    assert response.status_code == 403, response.text
    landed = aws["s3"].list_objects_v2(Bucket=LANDING_BUCKET, Prefix=f"subject_T{RUN}/")
    assert landed["KeyCount"] == 0


def test_completing_an_unknown_upload_answers_404(client):
    with pytest.raises(UploadApiError, match="HTTP 404: no multipart upload 'nope'"):
        client.request(
            "/uploads/multipart/nope/complete",
            {"key": "subject_01/session_01/x.parquet", "parts": [{"part_number": 1, "etag": "e"}]},
        )


def test_a_presigned_put_lands_and_is_processed(aws, client, cloud, tmp_path):
    subject = f"P{RUN}"
    data = recording_file(tmp_path, subject_number=1, duration_s=90.0).read_bytes()
    answer = client.request(
        "/uploads", {"subject": subject, "session": "02", "file_name": "put.parquet",
                     "size": len(data)},
    )  # fmt: skip
    assert answer["key"] == f"subject_{subject}/session_02/put.parquet"
    url = urllib.parse.urlsplit(answer["url"])
    assert f"{url.scheme}://{url.netloc}" == cloud.endpoint_url  # reachable by the client
    response = httpx.put(answer["url"], content=data, timeout=60)
    assert response.status_code == 200, response.text
    features = wait_for_features(aws["s3"], subject, "02")
    assert features["ContentLength"] > 0


def test_record_replay_streams_parts_and_ends_as_a_processed_subject(aws, cloud, tmp_path):
    subject = f"R{RUN}"
    # 240 s of 16 float32 channels is ~8 MB of Parquet: two 5 MiB-or-more parts.
    path = recording_file(tmp_path, subject_number=2, duration_s=240.0)
    result = CliRunner().invoke(
        main,
        ["record", "--home", str(cloud.home), "--replay", str(path), "--subject", subject,
         "--session", "3", "--chunk-seconds", "10", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["key"].startswith(f"subject_{subject}/session_03/recording-")
    assert summary["parts"] == 2
    assert summary["duration_s"] == pytest.approx(240.0)
    features = wait_for_features(aws["s3"], subject, "03")
    assert features["ContentLength"] > 0


def test_a_replay_failing_midway_is_aborted_and_lands_nothing(aws, client, tmp_path):
    subject = f"A{RUN}"
    table, sfreq = load_recording(recording_file(tmp_path, subject_number=3, duration_s=240.0))

    def headset_unplugged(sent) -> None:
        if sent.parts >= 1:
            raise ConnectionError("headset unplugged")

    with pytest.raises(ConnectionError, match="headset unplugged"):
        send_recording(
            client, table, sfreq=sfreq, subject=subject, session="01", chunk_seconds=10.0,
            speed=None, file_name="broken.parquet", on_chunk=headset_unplugged,
        )  # fmt: skip
    key = f"subject_{subject}/session_01/broken.parquet"
    pending = aws["s3"].list_multipart_uploads(Bucket=LANDING_BUCKET, Prefix=key)
    assert pending.get("Uploads", []) == []
    listed = aws["s3"].list_objects_v2(Bucket=LANDING_BUCKET, Prefix=f"subject_{subject}/")
    assert listed["KeyCount"] == 0
