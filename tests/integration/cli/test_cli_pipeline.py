"""The pipeline commands against a real local cloud (the session fixture `cloud`).

Once the pipeline is deployed, landing objects are ingested as soon as they arrive, so checks
on S3 accept any stage a subject can have reached.
"""

import hashlib
import json

import pytest
from click.testing import CliRunner

from p300.synthetic import write_system_a_layout
from p300_aws.names import FEATURES_BUCKET, LANDING_BUCKET, QUARANTINE_PREFIX, RAW_BUCKET
from p300_ops.cli import main
from p300_ops.localcloud.localstack import aws_client

pytestmark = [pytest.mark.cloud, pytest.mark.slow]


@pytest.fixture(scope="module")
def s3(cloud):
    return aws_client("s3", cloud.localstack_port)


def run(cloud, *args: str, ok: bool = True):
    result = CliRunner().invoke(main, [*args, "--home", cloud.home])
    if ok:
        assert result.exit_code == 0, result.output
    return result


def subjects_json(cloud) -> dict[tuple[str, str | None], dict]:
    rows = json.loads(run(cloud, "subjects", "--json").stdout)
    return {(row["subject"], row["session"]): row for row in rows}


def test_upload_a_system_a_folder(cloud, s3, tmp_path):
    write_system_a_layout(tmp_path, n_subjects=2, seed=1, duration_s=20)
    (tmp_path / "subject_01" / "notes.txt").write_text("ignored: not Parquet")
    result = run(cloud, "upload", str(tmp_path), "--json")
    uploaded = json.loads(result.stdout)["uploaded"]
    assert [u["key"] for u in uploaded] == [
        "subject_01/subject_01_eeg_stim.parquet",
        "subject_02/subject_02_eeg_stim.parquet",
    ]
    seen = {subject for subject, _ in subjects_json(cloud)}
    assert {"01", "02"} <= seen


def test_a_large_file_goes_up_in_parts_intact(cloud, s3, tmp_path):
    [path] = write_system_a_layout(tmp_path, n_subjects=1, seed=2, duration_s=400)
    loose = path.rename(tmp_path / "big.parquet")
    assert loose.stat().st_size > 16 * 1024 * 1024  # above the multipart threshold
    result = run(cloud, "upload", str(loose), "--subject", "31", "--session", "1", "--json")
    [uploaded] = json.loads(result.stdout)["uploaded"]
    assert uploaded["key"] == "subject_31/session_01/big.parquet"
    landed = s3.list_objects_v2(Bucket=LANDING_BUCKET, Prefix="subject_31/")
    for item in landed.get("Contents", []):  # not yet ingested: check the landed object
        body = s3.get_object(Bucket=LANDING_BUCKET, Key=item["Key"])["Body"].read()
        assert hashlib.sha256(body).digest() == hashlib.sha256(loose.read_bytes()).digest()
        assert item["ETag"].strip('"').endswith("-2")  # two parts
    assert ("31", "01") in subjects_json(cloud)


def test_bad_paths_are_reported_and_the_good_ones_uploaded(cloud, tmp_path):
    [good] = write_system_a_layout(tmp_path, n_subjects=1, seed=3, duration_s=20)
    fake = tmp_path / "fake.parquet"
    fake.write_text("not parquet")
    result = run(cloud, "upload", str(good), str(fake), str(tmp_path / "nope"), "--subject", "01",
                 "--json", ok=False)  # fmt: skip
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert [u["key"] for u in report["uploaded"]] == ["subject_01/subject_01_eeg_stim.parquet"]
    assert sorted(r["reason"][:20] for r in report["rejected"]) == [
        "no such file or fold",
        "not a Parquet file (",
    ]


@pytest.mark.parametrize("form", ["system-a", "ours"])
def test_generate_uploads_synthetic_subjects(cloud, form):
    start = {"system-a": 41, "ours": 51}[form]
    result = run(cloud, "generate", "--subjects", "2", "--start", str(start), "--duration", "20",
                 "--form", form, "--json")  # fmt: skip
    written = json.loads(result.stdout)
    assert [w["key"] for w in written] == [
        f"subject_{n}/subject_{n}_eeg_stim.parquet" for n in (str(start), str(start + 1))
    ]
    seen = {subject for subject, _ in subjects_json(cloud)}
    assert {str(start), str(start + 1)} <= seen


def test_subjects_reads_raw_features_and_quarantine(cloud, s3):
    """Objects written as the Lambdas write them (raw bucket writes start no pipeline)."""
    for session, features_sha in (("01", "aa"), ("02", "old")):
        s3.put_object(Bucket=RAW_BUCKET, Key=f"subject=61/session={session}/eeg.parquet",
                      Body=b"x", Metadata={"sha256": "aa", "landing-key": "k"})  # fmt: skip
        s3.put_object(Bucket=FEATURES_BUCKET, Key=f"subject=61/session={session}/features.parquet",
                      Body=b"y", Metadata={"raw-sha256": features_sha})  # fmt: skip
    reason = {
        "code": "NOT_PARQUET",
        "message": "cannot read 5 bytes as Parquet",
        "landing_key": "subject_62/x.parquet",
        "quarantined_at": "2026-11-22T10:00:00Z",
    }
    s3.put_object(Bucket=RAW_BUCKET, Key=f"{QUARANTINE_PREFIX}subject_62/x.parquet", Body=b"hello")
    s3.put_object(Bucket=RAW_BUCKET, Key=f"{QUARANTINE_PREFIX}subject_62/x.parquet.reason.json",
                  Body=json.dumps(reason).encode())  # fmt: skip
    rows = subjects_json(cloud)
    assert (rows["61", "01"]["stage"], rows["61", "01"]["features"]) == ("processed", "up to date")
    assert (rows["61", "02"]["stage"], rows["61", "02"]["features"]) == ("raw", "stale")
    assert rows["61", "01"]["raw_version_id"]  # the raw bucket is versioned
    assert rows["62", None]["stage"] == "quarantined"
    assert rows["62", None]["quarantined"][0]["code"] == "NOT_PARQUET"
    table = run(cloud, "subjects").stdout
    assert "NOT_PARQUET" in table and "processed" in table
