"""The pipeline commands against a real local cloud (the session fixture `cloud`).

Once the pipeline is deployed, landing objects are ingested as soon as they arrive, so checks
on S3 accept any stage a subject can have reached.
"""

import hashlib
import json
import time

import mne
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from p300.studies import SYSTEM_A
from p300.synthetic import write_system_a_layout
from p300_aws.feature_params import PARAMS_HASH, RAW_SHA256
from p300_aws.names import FEATURES_BUCKET, LANDING_BUCKET, QUARANTINE_PREFIX, RAW_BUCKET
from p300_ops.cli import main
from p300_ops.localcloud.localstack import aws_client
from tests.integration.cloud_helpers import landing_rule_disabled

pytestmark = [pytest.mark.cloud, pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def s3(cloud):
    return aws_client("s3", cloud.localstack_port)


def run(cloud, *args: str, ok: bool = True):
    # A wide terminal: rich wraps cells at 80 columns, splitting the words the tests look for.
    result = CliRunner().invoke(main, [*args, "--home", cloud.home], env={"COLUMNS": "240"})
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
    # 16 channels of float32 noise (incompressible) for 600 s at 512 Hz: ~20 MB.
    rng = np.random.default_rng(2)
    columns = {f"eeg_ch{i}": rng.normal(0, 10, 307_200).astype(np.float32) for i in range(1, 17)}
    columns["stim"] = np.where(np.arange(307_200) % 128 == 64, 1, 0).astype(np.int8)
    loose = tmp_path / "big.parquet"
    pq.write_table(pa.table(columns), loose)
    assert 16 * 1024 * 1024 < loose.stat().st_size < 32 * 1024 * 1024  # two parts
    # Not ingested while the rule is off: the object stays in the landing zone to be checked.
    with landing_rule_disabled(aws_client("events", cloud.localstack_port)):
        result = run(cloud, "upload", str(loose), "--subject", "31", "--session", "1", "--json")
        [uploaded] = json.loads(result.stdout)["uploaded"]
        assert uploaded["key"] == "subject_31/session_01/big.parquet"
        landed = s3.get_object(Bucket=LANDING_BUCKET, Key=uploaded["key"])
        assert (
            hashlib.sha256(landed["Body"].read()).digest()
            == hashlib.sha256(loose.read_bytes()).digest()
        )
        assert landed["ETag"].strip('"').endswith("-2")  # two parts
        assert subjects_json(cloud)["31", "01"]["stage"] == "landed"
        s3.delete_object(Bucket=LANDING_BUCKET, Key=uploaded["key"])  # noise: nothing to train on


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
def test_generate_uploads_synthetic_subjects(cloud, s3, form):
    start = {"system-a": 41, "ours": 51}[form]
    result = run(cloud, "generate", "--subjects", "2", "--start", str(start), "--duration", "20",
                 "--form", form, "--json")  # fmt: skip
    written = json.loads(result.stdout)
    assert [w["key"] for w in written] == [
        f"subject_{n}/subject_{n}_eeg_stim.parquet" for n in (str(start), str(start + 1))
    ]
    seen = {subject for subject, _ in subjects_json(cloud)}
    assert {str(start), str(start + 1)} <= seen
    if form == "ours":  # named channels: not trainable together with System A's eeg_chN
        forget_subjects(cloud, s3, [str(start), str(start + 1)])


def forget_subjects(cloud, s3, subjects: list[str]) -> None:
    """Once the pipeline is done with ``subjects``, hide their raw and features objects."""
    for subject in subjects:
        row = wait_for_stage(cloud, subject, {"processed", "quarantined"})
        if row["raw_key"]:
            s3.delete_object(Bucket=RAW_BUCKET, Key=row["raw_key"])
            features_key = row["raw_key"].replace("eeg.parquet", "features.parquet")
            s3.delete_object(Bucket=FEATURES_BUCKET, Key=features_key)


def test_subjects_reads_raw_features_and_quarantine(cloud, s3):
    """Objects written as the Lambdas write them (raw bucket writes start no pipeline)."""
    params_hash = SYSTEM_A.params_hash
    # Features as preprocessing writes them: made from these raw bytes with these params.
    made = (("01", "aa", params_hash), ("02", "old", params_hash), ("03", "aa", "other-params"))
    for session, features_sha, features_params in made:
        folder = f"study=system-a/subject=61/session={session}"
        s3.put_object(Bucket=RAW_BUCKET, Key=f"{folder}/eeg.parquet",
                      Body=b"x", Metadata={"sha256": "aa", "landing-key": "k"})  # fmt: skip
        made_from = {RAW_SHA256: features_sha, PARAMS_HASH: features_params}
        s3.put_object(Bucket=FEATURES_BUCKET, Key=f"{folder}/features.parquet",
                      Body=b"y", Metadata=made_from)  # fmt: skip
    reason = {
        "code": "NOT_PARQUET",
        "message": "cannot read 5 bytes as Parquet",
        "landing_key": "subject_62/x.parquet",
        "quarantined_at": "2026-11-22T10:00:00Z",
    }
    s3.put_object(Bucket=RAW_BUCKET, Key=f"{QUARANTINE_PREFIX}subject_62/x.parquet", Body=b"hello")
    s3.put_object(Bucket=RAW_BUCKET, Key=f"{QUARANTINE_PREFIX}subject_62/x.parquet.reason.json",
                  Body=json.dumps(reason).encode())  # fmt: skip
    try:
        rows = subjects_json(cloud)
    finally:  # training reads every current features object: leave none that is not Parquet
        for session, _, _ in made:
            key = f"study=system-a/subject=61/session={session}/features.parquet"
            s3.delete_object(Bucket=FEATURES_BUCKET, Key=key)
            s3.delete_object(Bucket=RAW_BUCKET, Key=key.replace("features", "eeg"))
    assert (rows["61", "01"]["stage"], rows["61", "01"]["features"]) == ("processed", "up to date")
    assert (rows["61", "02"]["stage"], rows["61", "02"]["features"]) == ("raw", "stale")
    # Other preprocessing params: the catch-up run would recompute them, so they are not current.
    assert (rows["61", "03"]["stage"], rows["61", "03"]["features"]) == ("raw", "stale")
    assert rows["61", "01"]["raw_version_id"]  # the raw bucket is versioned
    assert rows["62", None]["stage"] == "quarantined"
    assert rows["62", None]["quarantined"][0]["code"] == "NOT_PARQUET"
    table = run(cloud, "subjects").stdout
    assert "quarantined" in table and "processed" in table


def wait_for_stage(cloud, subject: str, stages: set[str], *, timeout_s: float = 300) -> dict:
    """The `subjects` row of ``subject`` once its stage is among ``stages``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rows = [row for (s, _), row in subjects_json(cloud).items() if s == subject]
        if rows and rows[0]["stage"] in stages:
            return rows[0]
        time.sleep(2)
    latest = json.loads(run(cloud, "executions", "-s", "ingest", "-n", "1", "--json").stdout)
    shown = run(cloud, "executions", "show", latest[0]["name"], ok=False).stdout if latest else ""
    raise AssertionError(
        f"subject {subject} not in {stages} after {timeout_s} s: {rows}\n"
        f"latest ingest execution:\n{shown}"
    )


def ingest_execution_of(cloud, landing_key: str) -> dict:
    """`executions show --json` of the ingest execution started by ``landing_key``."""
    listed = json.loads(run(cloud, "executions", "-s", "ingest", "-n", "200", "--json").stdout)
    for execution in listed:
        shown = run(cloud, "executions", "show", execution["name"], "--wait", "--json", ok=False)
        if landing_key in shown.stdout:
            return json.loads(shown.stdout)
    raise AssertionError(f"no ingest execution for {landing_key} among {len(listed)}")


@pytest.fixture(scope="module")
def generated(cloud) -> dict[str, dict]:
    """Subjects 71 and 72 generated and uploaded; their `subjects` rows once ingest ended."""
    run(cloud, "generate", "--subjects", "2", "--start", "71", "--duration", "120", "--json")
    return {s: wait_for_stage(cloud, s, {"processed", "quarantined"}) for s in ("71", "72")}


def test_generated_subjects_are_ingested_and_processed(cloud, generated):
    for row in generated.values():
        assert (row["stage"], row["session"], row["features"]) == ("processed", "01", "up to date")
    shown = ingest_execution_of(cloud, "subject_71/subject_71_eeg_stim.parquet")
    assert shown["execution"]["status"] == "SUCCEEDED"
    states = [(s["name"], s["iteration"], s["status"]) for s in shown["states"]]
    assert ("Plan", None, "succeeded") in states
    assert ("Ingest", 0, "succeeded") in states and ("Preprocess", 0, "succeeded") in states
    summary = shown["summary"]
    assert [item["subject"] for item in summary["processed"]] == ["71"]
    assert summary["quarantined"] == summary["failed"] == []
    table = run(cloud, "executions", "show", shown["execution"]["name"]).stdout
    assert (
        "[0] Preprocess" in table
        and "processed 1, skipped 0, rejected 0, quarantined 0, failed 0" in table
    )


def test_an_invalid_upload_is_quarantined_with_its_reason(cloud, tmp_path):
    bad = tmp_path / "subject_81" / "subject_81_eeg_stim.parquet"
    bad.parent.mkdir()
    pq.write_table(pa.table({"eeg_ch1": [1.0, 2.0, 3.0]}), bad)  # Parquet without a stim column
    run(cloud, "upload", str(tmp_path))
    row = wait_for_stage(cloud, "81", {"quarantined", "raw", "processed"})
    assert row["stage"] == "quarantined"
    assert row["quarantined"][0]["code"]
    shown = ingest_execution_of(cloud, "subject_81/subject_81_eeg_stim.parquet")
    assert [item["subject"] for item in shown["summary"]["quarantined"]] == ["81"]


def test_train_registers_a_challenger(cloud, generated):
    assert [row["stage"] for row in generated.values()] == ["processed", "processed"]
    result = run(cloud, "train", "--subjects", "71", "--auto-set-challenger-alias", "--json")
    output = json.loads(result.stdout)
    assert output["alias"] == "challenger"
    assert output["training_subjects"] == ["71"]
    assert "72" in output["test_subjects"]
    assert output["model_version"] and output["run_id"]
    assert 0.0 <= output["metrics"]["roc_auc"] <= 1.0
    listed = json.loads(run(cloud, "executions", "-s", "train", "--json").stdout)
    assert listed[0]["status"] == "SUCCEEDED"


def test_a_failed_training_says_why(cloud):
    result = run(cloud, "train", "--subjects", "98", ok=False)
    assert result.exit_code == 1
    assert "training FAILED" in result.output
    assert "98" in result.output  # the cause names the subject without features
    assert "p300 executions show train-" in result.output


def test_import_converts_and_uploads_a_brainvision_file(cloud, s3, tmp_path):
    sfreq, onsets = 256.0, np.arange(1.0, 58.0, 0.25)
    raw = mne.io.RawArray(
        np.random.default_rng(9).normal(0.0, 10e-6, (3, int(60 * sfreq))),
        mne.create_info(["Fz", "Cz", "Pz"], sfreq, "eeg"),
        verbose="error",
    )
    names = np.where(np.arange(onsets.size) % 6 == 0, "tgt", "std")
    raw.set_annotations(mne.Annotations(onsets, 0.0, names))
    mne.export.export_raw(tmp_path / "rec.vhdr", raw, verbose="error")
    result = run(cloud, "import", str(tmp_path / "rec.vhdr"), "--event", "Comment/tgt=target",
                 "--event", "Comment/std=nontarget", "--subject", "91", "--upload")  # fmt: skip
    assert "uploaded s3://p300-landing-zone/subject_91/rec.parquet" in result.stdout
    assert "91" in {subject for subject, _ in subjects_json(cloud)}
    forget_subjects(cloud, s3, ["91"])  # three channels: not trainable with the others
