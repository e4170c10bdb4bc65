"""Issue #17's demonstration on the local cloud: a real BCI2000 speller recording calibrated and
decoded per subject, through the commands a lab runs.

A new study with the default (robust) policy (`p300 studies create`); ``bp2calib.dat`` imported
and uploaded into it (`p300 import --study --upload`, subject S01, one session); the pipeline
processes it; `p300 calibrate --characters 1-3`
calibrates the subject's own model on the first three characters' flashes in the train Lambda;
the model is deployed as the subject's champion; `p300 decode --from-character 4` sends the
remaining characters through API Gateway. The accuracy by repetitions is printed and must be at
least what a plain offline LDA reaches on the same split. Bad input: a subject with one class, too
few epochs for the folds, no features, a subject of another study.

The tests run in file order on one cloud (shared with the other modules).
"""

import dataclasses
import os
import subprocess
import time

import numpy as np
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from threadpoolctl import threadpool_limits

from p300.decoding import (
    count_repetitions,
    flashed_item_sets,
    item_accuracy_by_repetition,
    true_items,
)
from p300.features_io import features_to_parquet_bytes
from p300.importers import import_bci2000
from p300.models import make_model
from p300.preprocessing import preprocess
from p300.real_data import POLICIES, load_recording
from p300.types import STIM_TARGET
from p300_aws import keys
from p300_aws.names import API_NAME, CHAMPION_ALIAS, FEATURES_BUCKET, subject_model_name
from p300_ops import paths
from p300_ops.localcloud import localstack
from p300_ops.services import subject_release
from p300_ops.services.calibration_runs import (
    CalibrationFailed,
    calibrate_request,
    run_calibration,
)
from p300_ops.services.cloud import api_url
from p300_ops.services.speller_decoding import DecodeError, decode_recording
from tests.integration.calibration.population import release_population_champion
from tests.integration.cloud_helpers import predict_headers
from tests.real_data import real_file

pytestmark = [pytest.mark.cloud, pytest.mark.slow, pytest.mark.timeout(3600)]

STUDY, SUBJECT = "speller-e2e", "S01"
N_CALIBRATION = 3
PROCESSING_WAIT_S = 900


@pytest.fixture(scope="module")
def aws(cloud):
    port = cloud.localstack_port
    names = ("s3", "lambda", "apigateway", "stepfunctions")
    clients = {name: localstack.aws_client(name, port) for name in names}
    clients["base_url"] = api_url(clients["apigateway"], API_NAME, endpoint_url=cloud.endpoint_url)
    clients["headers"] = predict_headers(cloud)
    clients["api"] = {"api_base": clients["base_url"], "headers": clients["headers"]}
    return clients


@pytest.fixture(scope="module")
def recording_path():
    return real_file("p3k_mit/bp2calib.dat")


def p300(cloud, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    """Run the `p300` command line against the test cloud, as a user would."""
    return subprocess.run(
        [str(paths.PROJECT_BIN / "p300"), *args, "--home", cloud.home],
        capture_output=True, text=True, timeout=timeout, env=os.environ | {"COLUMNS": "200"},
    )  # fmt: skip


def wait_for_features(s3, subject: str, session: str = "01") -> None:
    key = keys.features_key(keys.SubjectSession(STUDY, subject, session))
    deadline = time.monotonic() + PROCESSING_WAIT_S
    while time.monotonic() < deadline:
        if s3.list_objects_v2(Bucket=FEATURES_BUCKET, Prefix=key).get("KeyCount"):
            return
        time.sleep(3)
    pytest.fail(f"s3://{FEATURES_BUCKET}/{key} not written {PROCESSING_WAIT_S} s after upload")


def registered_versions(cloud, name: str) -> list[str]:
    client = MlflowClient(tracking_uri=cloud.tracking_uri, registry_uri=cloud.tracking_uri)
    return [v.version for v in client.search_model_versions(f"name = '{name}'")]


@pytest.fixture(scope="module")
def processed(cloud, aws, recording_path):
    """The study created, bp2calib imported into it and uploaded (`p300 import --upload`), and
    processed by the pipeline; the imported recording."""
    created = p300(cloud, "studies", "create", STUDY, "--description", "calibration e2e")
    assert created.returncode == 0, created.stderr
    uploaded = p300(cloud, "import", str(recording_path), "--study", STUDY, "--subject", SUBJECT,
                    "--session", "01", "--upload")  # fmt: skip
    assert uploaded.returncode == 0, uploaded.stderr
    wait_for_features(aws["s3"], SUBJECT)
    return import_bci2000(recording_path)


@pytest.fixture(scope="module")
def calibrated(cloud, aws, processed):
    """`p300 calibrate` on the first three characters: the train Lambda's output."""
    request = calibrate_request(study=STUDY, subject=SUBJECT, characters=f"1-{N_CALIBRATION}",
                                auto_set_alias=True)  # fmt: skip
    started = time.monotonic()
    output = run_calibration(aws["stepfunctions"], request)
    print(f"\ncalibration in the train Lambda: {time.monotonic() - started:.0f} s; "
          f"{output['reason']}")  # fmt: skip
    return output


def test_calibration_chooses_evaluates_and_registers_the_subjects_own_model(cloud, calibrated):
    assert calibrated["model_name"] == subject_model_name(STUDY, SUBJECT)
    assert calibrated["alias"] == CHAMPION_ALIAS  # the subject's first model
    assert calibrated["characters"] == [1, N_CALIBRATION]
    assert calibrated["sessions"] == ["01"]
    assert calibrated["reason"].startswith(calibrated["classifier"])
    evaluation = calibrated["evaluation"]
    assert evaluation["scheme"] == "within-session"
    assert len(evaluation["fold_roc_auc"]) == 5
    assert evaluation["roc_auc"] > 0.9
    assert evaluation["item_accuracy"]["n_trials"] == N_CALIBRATION
    run = MlflowClient(tracking_uri=cloud.tracking_uri).get_run(calibrated["run_id"])
    assert run.data.tags["p300.subject"] == SUBJECT and run.data.tags["p300.kind"] == "subject"
    assert run.data.params["evaluation"] == "within-session"
    assert {"roc_auc", "fold_0_roc_auc", "item_accuracy_r1", "itr_bits_per_minute_r1"} <= set(
        run.data.metrics
    )
    assert {f"inner_roc_auc_{m}" for m in ("lda", "xdawn-riemann", "xdawn-mdm")} <= set(
        run.data.metrics
    )


def plain_lda_accuracy(path) -> list[float]:
    """The baseline of docs/real-data.md: System A's LDA without rejection, offline on the whole
    recording, fitted on the first three characters and scored on the others."""
    recording = load_recording(path)
    features = preprocess(recording.raw, POLICIES["none"])
    kept = features.metadata["kept"].to_numpy()
    characters = recording.speller.characters[kept]
    items = features.metadata["stim_item"].to_numpy()[kept]
    fitted, decoded = characters < N_CALIBRATION, characters >= N_CALIBRATION
    with threadpool_limits(1):
        model = make_model("lda").fit(features.features[fitted], features.labels[fitted])
    scores = model.decision_function(features.features[decoded])
    flashed = flashed_item_sets(items[decoded], recording.speller.groups)
    trials = characters[decoded]
    accuracy = item_accuracy_by_repetition(
        scores, flashed, trials=trials, repetitions=count_repetitions(flashed, trials=trials),
        true_items=true_items(flashed, features.labels[decoded], trials),
    )  # fmt: skip
    return accuracy.accuracy.tolist()


@pytest.fixture(scope="module")
def deployed(cloud, calibrated) -> str:
    """`p300 deploy-model` of the calibrated model to champion: what it printed."""
    result = p300(cloud, "deploy-model", "--study", STUDY, "--subject", SUBJECT, "--alias",
                  CHAMPION_ALIAS)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_remaining_characters_decode_through_the_gateway_at_least_as_well_as_plain_lda(
    cloud, aws, calibrated, deployed, recording_path
):
    assert f"{subject_model_name(STUDY, SUBJECT)} version {calibrated['model_version']}" in (
        deployed
    )
    decoding = decode_recording(recording_path, **aws["api"], study=STUDY,
                                subject=SUBJECT, from_character=N_CALIBRATION + 1)  # fmt: skip
    baseline = plain_lda_accuracy(recording_path)
    print(f"\ndecoded {decoding.decoded_text!r}, truth {decoding.truth_text!r} "
          f"({decoding.model['name']} version {decoding.model['version']}, "
          f"{decoding.model['kind']})")  # fmt: skip
    print(" r  calibrated, through API Gateway   plain LDA, offline")
    for r, ours, plain in zip(decoding.repetitions, decoding.accuracy, baseline, strict=True):
        print(f"{r:2d}  {ours:>6.0%}                          {plain:>6.0%}")
    assert decoding.truth_text == "1K"  # bp2calib spells AH71K
    assert decoding.model["kind"] == "subject"
    assert decoding.model["version"] == calibrated["model_version"]
    assert len(decoding.accuracy) == len(baseline) == 15
    assert all(ours >= plain for ours, plain in zip(decoding.accuracy, baseline, strict=True))
    assert decoding.accuracy[-1] == 1.0


def test_the_decode_command_prints_text_truth_and_accuracy(cloud, deployed, recording_path):
    result = p300(cloud, "decode", str(recording_path), "--study", STUDY, "--subject", SUBJECT,
                  "--from-character", "4", "--repetitions", "15", timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "decoded '1K', truth '1K'" in result.stdout
    assert "100%" in result.stdout


def test_a_subject_without_a_model_in_a_study_of_another_population_model_is_refused(
    cloud, aws, deployed, recording_path
):
    release_population_champion(cloud.tracking_uri, aws["lambda"], aws["apigateway"])
    with pytest.raises(DecodeError, match=r"answered 404: no model serves subject 'S02' of study "
                                          rf"'{STUDY}' .* trained on study 'system-a', not "
                                          rf"'{STUDY}'"):  # fmt: skip
        decode_recording(recording_path, **aws["api"], study=STUDY, subject="S02",
                         from_character=5, repetitions=1)  # fmt: skip
    # The subject's own model still answers next to that population model.
    route = subject_release.subject_route_url(aws["base_url"], CHAMPION_ALIAS, STUDY, SUBJECT)
    decoding = decode_recording(recording_path, **aws["api"], study=STUDY,
                                subject=SUBJECT, from_character=5, repetitions=5)  # fmt: skip
    assert decoding.url == f"{route}/decode" and decoding.model["kind"] == "subject"


def test_too_few_epochs_for_the_folds_is_refused_and_nothing_is_registered(cloud, aws, calibrated):
    name = subject_model_name(STUDY, SUBJECT)
    before = registered_versions(cloud, name)
    request = calibrate_request(study=STUDY, subject=SUBJECT, characters="1", n_folds=40)
    with pytest.raises(CalibrationFailed, match=r"CalibrationError: TOO_FEW_EPOCHS: .*40"):
        run_calibration(aws["stepfunctions"], request)
    assert registered_versions(cloud, name) == before


def test_a_subject_with_one_class_is_refused_and_nothing_is_registered(cloud, aws, processed):
    """Features of non-target flashes only, as an older pipeline might have written them (ours
    quarantines such a recording): the calibration must not trust what it reads."""
    recording = processed.recording
    target = recording.stim == STIM_TARGET
    cut = dataclasses.replace(
        recording, stim=np.where(target, 0, recording.stim).astype(recording.stim.dtype),
        stim_item=np.where(target, -1, recording.stim_item).astype(recording.stim_item.dtype),
        subject="S03", session="01",
    )  # fmt: skip
    features = preprocess(cut, POLICIES["robust"])
    key = keys.features_key(keys.SubjectSession(STUDY, "S03", "01"))
    aws["s3"].put_object(Bucket=FEATURES_BUCKET, Key=key, Body=features_to_parquet_bytes(features))
    request = calibrate_request(study=STUDY, subject="S03")
    with pytest.raises(CalibrationFailed, match=r"CalibrationError: ONE_CLASS: "):
        run_calibration(aws["stepfunctions"], request)
    with pytest.raises(MlflowException):
        MlflowClient(tracking_uri=cloud.tracking_uri).get_registered_model(
            subject_model_name(STUDY, "S03")
        )


def test_calibrating_a_subject_without_features_names_what_the_study_has(cloud, aws, processed):
    result = p300(cloud, "calibrate", "--study", STUDY, "--subject", "S404", timeout=600)
    assert result.returncode == 1
    assert f"subject 'S404' of study '{STUDY}' has no processed features" in result.stderr
