"""Studies on the real local cloud: the store, uploads and imports with a study, each study's
profile and rejection policy in the pipeline, data-quality alerts, and a study update that
re-processes only that study's subjects.

The real recording is the shared BCI2000 speller calibration run ``p3k_mit/bp2calib.dat`` (10
channels, 256 Hz, 1,050 flashes). Measured on it: both System A's fixed 100 µV and the robust
policy keep all 1,050 epochs; at 3× the amplitude (a wrong gain) the fixed policy keeps 136
(``LOW_KEPT_SHARE``), the robust one all 1,050. A synthetic subject at 3× loses every epoch
under the fixed policy (``ALL_EPOCHS_REJECTED``), as in issue 17.
"""

import dataclasses
import json
import time
import urllib.parse
import uuid

import pytest

from p300.importers import import_bci2000
from p300.raw_io import recording_to_parquet_bytes
from p300.studies import SYSTEM_A, new_study
from p300.synthetic import make_session
from p300_aws import studies
from p300_aws.alerts import list_alerts
from p300_aws.names import (
    DATA_QUALITY_METRIC,
    FEATURES_BUCKET,
    INGEST_STATE_MACHINE,
    LANDING_BUCKET,
    METRIC_NAMESPACE,
    QUARANTINE_PREFIX,
    RAW_BUCKET,
    UPLOAD_API_NAME,
)
from p300_ops.localcloud.localstack import aws_client
from p300_ops.services.cloud import Cloud, api_url
from p300_ops.services.upload_api_client import UploadApiError, UploadClient, api_key
from tests.integration.cloud_helpers import cli
from tests.real_data import real_file

pytestmark = [pytest.mark.cloud, pytest.mark.slow, pytest.mark.timeout(1800)]

RUN = uuid.uuid4().hex[:6]
SPELLER = f"speller-{RUN}"  # the robust policy (a new study's default)
NARROW = f"narrow-{RUN}"  # band 1-40 Hz: recordings at 64 Hz do not fit
MONTAGE = f"montage-{RUN}"  # expects Cz,Pz only
SA = SYSTEM_A.name
TIMEOUT_S = 300


@pytest.fixture(scope="module")
def aws(cloud):
    names = ("s3", "stepfunctions", "cloudwatch")
    return {name: aws_client(name, cloud.localstack_port) for name in names}


@pytest.fixture(scope="module")
def created(cloud):
    """The studies of this module, created with the CLI."""
    cli(cloud, "studies", "create", SPELLER, "--description", "BCI2000 speller")
    cli(cloud, "studies", "create", NARROW, "--band", "1,40")
    cli(cloud, "studies", "create", MONTAGE, "--montage", "Cz,Pz", "--rejection", "none")
    return (SPELLER, NARROW, MONTAGE)


@pytest.fixture(scope="module")
def bp2calib():
    return import_bci2000(real_file("p3k_mit/bp2calib.dat"))


def ingest_arn(aws) -> str:
    machines = aws["stepfunctions"].list_state_machines()["stateMachines"]
    return next(m["stateMachineArn"] for m in machines if m["name"] == INGEST_STATE_MACHINE)


def executions(aws) -> set[str]:
    pages = aws["stepfunctions"].get_paginator("list_executions")
    return {e["executionArn"] for p in pages.paginate(stateMachineArn=ingest_arn(aws))
            for e in p["executions"]}  # fmt: skip


def landing_key_of(execution: dict) -> str | None:
    """The landing key an event-mode execution was started for."""
    started = json.loads(execution["input"])
    key = started.get("detail", {}).get("object", {}).get("key")
    return None if key is None else urllib.parse.unquote_plus(key)


def wait_for_keys(aws, known: set[str], keys: set[str]) -> dict[str, dict]:
    """Landing key → the one result of its finished execution, for every key of ``keys``."""
    deadline, found = time.monotonic() + TIMEOUT_S, {}
    while time.monotonic() < deadline and set(found) != keys:
        for arn in executions(aws) - known:
            execution = aws["stepfunctions"].describe_execution(executionArn=arn)
            key = landing_key_of(execution)
            if key in keys and execution["status"] != "RUNNING":
                assert execution["status"] == "SUCCEEDED", execution
                (found[key],) = json.loads(execution["output"])["results"]
        time.sleep(1.0)
    assert set(found) == keys, f"no finished execution for {sorted(keys - set(found))}"
    return found


def scaled(imported, gain: float, **metadata: str) -> bytes:
    recording = dataclasses.replace(imported.recording, data=imported.recording.data * gain)
    return recording_to_parquet_bytes(recording, extra_metadata=imported.metadata | metadata)


def test_the_store_keeps_versions_and_refuses_overwrites(cloud, aws, created):
    listed = {
        row["name"]: row for row in json.loads(cli(cloud, "studies", "list", "--json").stdout)
    }
    assert {SA, *created} <= set(listed)
    assert (listed[SA]["rejection"], listed[SA]["version"]) == ("fixed 100 µV peak-to-peak", 1)
    # A new study's first version has the robust default (a later test updates this study).
    first = studies.get_profile(aws["s3"], SPELLER, 1)
    assert (first.version, first.params) == (1, new_study(SPELLER).params)
    assert first.params.rejection == "robust"
    again = cli(cloud, "studies", "create", SPELLER, ok=False)
    assert again.exit_code == 1 and f"study '{SPELLER}' exists already" in again.output
    # The store writes a version only where no object is: a race loses, it never overwrites.
    with pytest.raises(studies.StudyExistsError, match="written meanwhile"):
        studies.write_profile(aws["s3"], new_study(SPELLER))
    unknown = cli(cloud, "studies", "show", f"nope-{RUN}", ok=False)
    assert (
        unknown.exit_code == 1
        and f"unknown study 'nope-{RUN}': the studies are [" in unknown.output
    )
    nothing = cli(cloud, "studies", "update", SPELLER, ok=False)
    assert nothing.exit_code == 2 and "give at least one profile option" in nothing.output


@pytest.fixture(scope="module")
def uploads(cloud, aws, created, bp2calib, tmp_path_factory):
    """Every upload of this module, through the CLI or straight into the landing zone, and the
    one result of each upload's execution, by landing key."""
    known = executions(aws)
    out = tmp_path_factory.mktemp("imported")
    keys = {}
    for subject, study in ((f"s{RUN}", SPELLER), (f"a{RUN}", None)):
        args = ["import", str(real_file("p3k_mit/bp2calib.dat")), "--subject", subject,
                "--session", "1", "--out", str(out / f"{subject}.parquet"), "--upload"]  # fmt: skip
        result = cli(cloud, *args, *(["--study", study] if study else []))
        keys[subject, "x1"] = result.output.strip().splitlines()[-1].split(f"{LANDING_BUCKET}/")[1]
    # 3× the gain: into the speller study by the file's metadata, into System A by the key.
    direct = {
        (f"s{RUN}", "x3"): (f"subject_s{RUN}/session_03/x3.parquet",
                            scaled(bp2calib, 3.0, study=SPELLER)),
        (f"a{RUN}", "x3"): (f"subject_a{RUN}/session_03/x3.parquet", scaled(bp2calib, 3.0)),
        (f"g{RUN}", "x3"): (f"subject_g{RUN}/session_01/x3.parquet", _synthetic(gain=3.0)),
        (f"u{RUN}", "x1"): (f"study_nope-{RUN}/subject_u{RUN}/session_01/x.parquet",
                            _synthetic(gain=1.0)),
    }  # fmt: skip
    for name, (key, body) in direct.items():
        aws["s3"].put_object(Bucket=LANDING_BUCKET, Key=key, Body=body)
        keys[name] = key
    low_rate = out / "low_rate.parquet"
    low_rate.write_bytes(_synthetic(gain=1.0, sfreq=64.0))
    result = cli(cloud, "upload", str(low_rate), "--subject", f"n{RUN}", "--session", "1",
                 "--study", NARROW, "--json")  # fmt: skip
    keys[f"n{RUN}", "x1"] = json.loads(result.stdout)["uploaded"][0]["key"]
    results = wait_for_keys(aws, known, set(keys.values()))
    return {name: results[key] for name, key in keys.items()}


def _synthetic(*, gain: float, sfreq: float = 512.0) -> bytes:
    recording = make_session(seed=7, duration_s=60, sfreq=sfreq)
    return recording_to_parquet_bytes(dataclasses.replace(recording, data=recording.data * gain))


def kept(result: dict) -> tuple[int, int]:
    return result["kept"]["n_kept"], result["kept"]["n_flashes"]


def test_a_real_recording_is_processed_with_its_studys_profile(uploads):
    speller, system_a = uploads[f"s{RUN}", "x1"], uploads[f"a{RUN}", "x1"]
    assert (speller["outcome"], speller["study"], speller["study_version"]) == (
        "processed", SPELLER, 1
    )  # fmt: skip
    assert speller["features_key"] == f"study={SPELLER}/subject=s{RUN}/session=01/features.parquet"
    assert (system_a["outcome"], system_a["study"]) == ("processed", SA)
    # Both policies keep every epoch of this recording (measured; docs/real-data.md).
    assert kept(speller) == kept(system_a) == (1050, 1050)
    assert speller["code"] is system_a["code"] is None


def test_a_wrong_gain_loses_most_epochs_only_under_the_fixed_policy(aws, uploads):
    speller, system_a = uploads[f"s{RUN}", "x3"], uploads[f"a{RUN}", "x3"]
    assert speller["study"] == SPELLER  # from the file's metadata
    assert (speller["outcome"], kept(speller), speller["alert_key"]) == (
        "processed", (1050, 1050), None
    )  # fmt: skip
    assert (system_a["outcome"], system_a["code"], kept(system_a)) == (
        "processed", "LOW_KEPT_SHARE", (136, 1050)
    )  # fmt: skip
    assert system_a["alert_key"].startswith("alerts/data-quality/")


def test_a_recording_left_with_no_epoch_is_rejected_and_alerted(cloud, aws, uploads):
    result = uploads[f"g{RUN}", "x3"]
    assert (result["outcome"], result["code"], kept(result)[0]) == (
        "rejected", "ALL_EPOCHS_REJECTED", 0
    )  # fmt: skip
    assert "rejection policy fixed 100 µV peak-to-peak kept 0 of" in result["reason"]
    features = f"study={SA}/subject=g{RUN}/session=01/features.parquet"
    listed = aws["s3"].list_objects_v2(Bucket=FEATURES_BUCKET, Prefix=features)
    assert listed["KeyCount"] == 0  # nothing written but the reason
    stored = aws["s3"].get_object(Bucket=FEATURES_BUCKET, Key=result["rejection_key"])
    reason = json.loads(stored["Body"].read())
    assert (reason["code"], reason["study"]) == ("ALL_EPOCHS_REJECTED", SA)
    [alert] = [a for a in list_alerts(aws["s3"], kind="data-quality")
               if a.evidence.get("subject") == f"g{RUN}"]  # fmt: skip
    assert alert.subject == f"ALL_EPOCHS_REJECTED: {SA} subject g{RUN} session 01"
    assert "It was not processed" in alert.message
    rows = json.loads(cli(cloud, "subjects", "--study", SA, "--json").stdout)
    [row] = [r for r in rows if r["subject"] == f"g{RUN}"]
    assert (row["stage"], row["rejection"]["code"]) == ("rejected", "ALL_EPOCHS_REJECTED")
    metrics = aws["cloudwatch"].list_metrics(Namespace=METRIC_NAMESPACE,
                                             MetricName=DATA_QUALITY_METRIC)["Metrics"]  # fmt: skip
    assert {"Name": "Study", "Value": SA} in [d for m in metrics for d in m.get("Dimensions", [])]


def test_the_same_rejected_bytes_again_are_not_redone_or_realerted(aws, uploads):
    known = executions(aws)
    key = f"subject_g{RUN}/session_01/again.parquet"
    aws["s3"].put_object(Bucket=LANDING_BUCKET, Key=key, Body=_synthetic(gain=3.0))
    result = wait_for_keys(aws, known, {key})[key]
    assert (result["outcome"], result["needs_processing"]) == ("duplicate", False)


def test_a_profile_that_does_not_fit_is_rejected_by_the_pipeline(uploads):
    result = uploads[f"n{RUN}", "x1"]
    assert (result["outcome"], result["code"], result["study"]) == (
        "rejected", "NYQUIST_BELOW_BAND", NARROW
    )  # fmt: skip
    assert "band-passes 1.0-40.0 Hz" in result["reason"] and result["alert_key"]


def test_an_upload_naming_an_unknown_study_is_quarantined(aws, uploads):
    result = uploads[f"u{RUN}", "x1"]
    assert result["outcome"] == "quarantined"
    assert result["problems"][0]["code"] == "UNKNOWN_STUDY"
    assert f"unknown study 'nope-{RUN}'" in result["problems"][0]["message"]


def test_import_and_upload_refuse_before_sending(cloud, aws, created, tmp_path):
    refused = cli(cloud, "import", str(real_file("p3k_mit/bp2calib.dat")), "--subject",
                  f"m{RUN}", "--study", MONTAGE, "--upload", ok=False)  # fmt: skip
    assert refused.exit_code == 1
    assert "not uploaded: MONTAGE_MISMATCH" in refused.output and "'Cz', 'Pz'" in refused.output
    recording = tmp_path / "rec.parquet"
    recording.write_bytes(_synthetic(gain=1.0))
    unknown = cli(cloud, "upload", str(recording), "--subject", "1", "--study", f"nope-{RUN}",
                  ok=False)  # fmt: skip
    assert unknown.exit_code == 1 and f"unknown study 'nope-{RUN}'" in unknown.output
    # Nothing was sent: a sent file would be in the landing zone, or already ingested to the raw
    # bucket or quarantined (the shared cloud's other uploads come and go meanwhile).
    sent_to = [
        (LANDING_BUCKET, f"study_{MONTAGE}/subject_m{RUN}/"),
        (LANDING_BUCKET, f"study_nope-{RUN}/subject_1/"),
        (RAW_BUCKET, f"study={MONTAGE}/subject=m{RUN}/"),
        (RAW_BUCKET, f"{QUARANTINE_PREFIX}study_{MONTAGE}/subject_m{RUN}/"),
        # (the `uploads` fixture quarantined another subject of this unknown study on purpose)
        (RAW_BUCKET, f"{QUARANTINE_PREFIX}study_nope-{RUN}/subject_1/"),
    ]
    for bucket, prefix in sent_to:
        assert aws["s3"].list_objects_v2(Bucket=bucket, Prefix=prefix).get("KeyCount", 0) == 0


def test_a_study_update_reprocesses_only_that_studys_subjects(cloud, aws, uploads):
    updated = json.loads(
        cli(cloud, "studies", "update", SPELLER, "--rejection", "robust:4", "--json").stdout
    )
    assert (updated["version"], updated["rejection"]) == (2, "robust k=4")
    rows = json.loads(cli(cloud, "subjects", "--study", SPELLER, "--json").stdout)
    assert {r["stage"] for r in rows if r["subject"] == f"s{RUN}"} == {"raw"}  # stale now
    arn = aws["stepfunctions"].start_execution(
        stateMachineArn=ingest_arn(aws), name=f"catch-up-{RUN}", input='{"catch_up": true}'
    )["executionArn"]
    deadline = time.monotonic() + TIMEOUT_S
    while (done := aws["stepfunctions"].describe_execution(executionArn=arn))[
        "status"
    ] == "RUNNING":
        assert time.monotonic() < deadline, "the catch-up run did not finish"
        time.sleep(1.0)
    output = json.loads(done["output"])
    processed = {(e["study"], e["subject"], e["session"]) for e in output["processed"]}
    assert {(SPELLER, f"s{RUN}", "01"), (SPELLER, f"s{RUN}", "03")} <= processed
    assert not {entry for entry in processed if entry[1] == f"a{RUN}"}  # System A's: current
    versions = {r["study_version"] for r in output["results"] if r.get("study") == SPELLER}
    assert versions == {2}
    raw = aws["s3"].head_object(
        Bucket=RAW_BUCKET, Key=f"study={SPELLER}/subject=s{RUN}/session=01/eeg.parquet"
    )
    assert raw["Metadata"]["study"] == SPELLER


def test_the_upload_api_takes_a_study_and_refuses_an_unknown_one(cloud, aws, created):
    apigateway = aws_client("apigateway", cloud.localstack_port)
    url = api_url(apigateway, UPLOAD_API_NAME, endpoint_url=cloud.endpoint_url)
    client = UploadClient(url, api_key(apigateway), token=Cloud(cloud).api_token("upload"))
    upload = client.start(subject=f"p{RUN}", session="01", study=SPELLER)
    assert upload.key.startswith(f"study_{SPELLER}/subject_p{RUN}/session_01/")
    client.abort(upload)
    with pytest.raises(UploadApiError, match=f"HTTP 400: unknown study 'nope-{RUN}'") as refused:
        client.start(subject=f"p{RUN}", session="01", study=f"nope-{RUN}")
    assert refused.value.status == 400
