import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest

from p300_aws.datasets import (
    MANIFEST_ARTIFACT,
    MANIFEST_TAG,
    DatasetRun,
    DatasetVersionError,
    ManifestError,
    dataset_runs,
    diff_manifests,
    fetch_manifest,
    match_reference,
    parse_manifest,
    replay_recipe,
    resolve_manifest,
)
from p300_aws.errors import BadEventError
from p300_aws.events import parse_event
from p300_aws.mlflow_tracking import MlflowTracker, RetryPolicy, json_bytes
from p300_aws.names import FEATURES_BUCKET, REGISTERED_MODEL, TRAINING_EXPERIMENT
from p300_aws.s3_objects import sha256_hex
from p300_aws.training import FeaturesObject, TrainRequest, dataset_manifest


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _entry(subject: str, session: str = "01", *, version: str = "v1", data: str = "") -> dict:
    key = f"subject={subject}/session={session}/features.parquet"
    return {"bucket": FEATURES_BUCKET, "key": key,
            "version_id": version, "sha256": _sha(data or subject + session + version),
            "subject": subject, "session": session}  # fmt: skip


def _manifest(*entries: dict):
    return parse_manifest(json_bytes({"objects": list(entries)}))


def test_manifest_hash_is_the_one_training_tags_the_run_with():
    objects = [FeaturesObject(f"study=speller/subject={s}/session=01/features.parquet", f"v{s}",
                              _sha(s), s, "01", b"") for s in ("02", "01")]  # fmt: skip
    logged = json_bytes(dataset_manifest(objects, study="speller"))

    manifest = parse_manifest(logged)

    assert manifest.sha256 == sha256_hex(logged)
    assert manifest.study == "speller"
    assert json_bytes(manifest.to_dict()) == logged
    assert [e.subject for e in manifest.entries] == ["01", "02"]
    assert manifest.entries[0].version_id == "v01"
    # A re-indented copy of the file names the same manifest.
    assert parse_manifest(json.dumps(json.loads(logged))).sha256 == manifest.sha256


def test_manifest_counts_subjects_and_sessions():
    manifest = _manifest(_entry("01"), _entry("01", "02"), _entry("03"))
    assert manifest.subjects == ["01", "03"]
    assert manifest.sessions == [("01", "01"), ("01", "02"), ("03", "01")]
    assert manifest.to_dict()["objects"][1]["session"] == "02"


@pytest.mark.parametrize(
    ("document", "match"),
    [
        (b"{not json", "must be JSON"),
        (b"[]", "an 'objects' list, got list"),
        (b'{"files": []}', r"an 'objects' list, got \['files'\]"),
        (json_bytes({"objects": [{"key": "k"}]}), r"object 0 must have exactly the fields"),
        (json_bytes({"objects": [_entry("01") | {"sha256": "abc"}]}), "64 hex digits, got 'abc'"),
    ],
)
def test_parse_manifest_rejects(document, match):
    with pytest.raises(ManifestError, match=match):
        parse_manifest(document)


def test_diff_finds_added_removed_changed_and_unchanged():
    old = _manifest(_entry("01"), _entry("02"), _entry("03"), _entry("04"))
    new = _manifest(_entry("01"), _entry("02", version="v2"), _entry("04", data="rewritten"),
                    _entry("05"))  # fmt: skip

    diff = diff_manifests(old, new)

    assert [e.subject for e in diff.added] == ["05"]
    assert [e.subject for e in diff.removed] == ["03"]
    assert [(o.subject, o.version_id, n.version_id) for o, n in diff.changed] == [
        ("02", "v1", "v2"), ("04", "v1", "v1"),
    ]  # fmt: skip
    assert diff.unchanged == 1
    as_json = diff.to_dict()
    assert as_json["changed"][0]["new"]["version_id"] == "v2"
    assert (len(as_json["added"]), as_json["unchanged"]) == (1, 1)


def test_diff_of_a_manifest_with_itself_is_empty():
    manifest = _manifest(_entry("01"), _entry("02"))
    diff = diff_manifests(manifest, manifest)
    assert (diff.added, diff.removed, diff.changed, diff.unchanged) == ((), (), (), 2)


T0 = datetime(2026, 11, 1, tzinfo=UTC)
SHA_A, SHA_B = "ab" + "1" * 62, "ab" + "2" * 62
RUNS = [
    DatasetRun("0a1b", T0, SHA_A, {}, 0.8),
    DatasetRun("2c3d", T0 + timedelta(hours=1), SHA_B, {}, 0.9),
    DatasetRun("4e5f", T0 + timedelta(hours=2), SHA_A, {}, 0.8),  # a replay of the first
]


@pytest.mark.parametrize(
    ("reference", "run_id"),
    [("2c3d", "2c3d"), (SHA_B, "2c3d"), ("ab22", "2c3d"), (SHA_A.upper(), "0a1b"),
     ("4e5f", "4e5f"), (" ab11 ", "0a1b")],
)  # fmt: skip
def test_match_reference_by_run_id_hash_or_prefix_picks_the_earliest_recorder(reference, run_id):
    assert match_reference(reference, RUNS).run_id == run_id


@pytest.mark.parametrize(
    ("reference", "match"),
    [
        ("ab", "prefix of at least 4 hex digits"),
        ("not-a-hash", "got 'not-a-hash'"),
        ("abcd", r"no training run recorded a dataset manifest matching 'abcd' \(3 runs"),
        ("ab11", "ambiguous"),
    ],
)
def test_match_reference_refuses(reference, match):
    runs = [*RUNS, DatasetRun("6a7b", T0, "ab11" + "3" * 60, {}, None)]
    with pytest.raises(ManifestError, match=match):
        match_reference(reference, runs if reference == "ab11" else RUNS)


def _params(**values) -> dict[str, str]:
    """Run params as MLflow holds them: JSON text, plain text for strings."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}


@pytest.mark.parametrize(("percentage", "subjects"), [(50.0, None), (None, ["01", "03"])])
def test_replay_recipe_reads_the_split_seed_and_model_back(percentage, subjects):
    params = _params(training_subjects_percentage=percentage, training_subjects=["01", "03"],
                     test_subjects=["02"], seed=7, model_name="xdawn-riemann",
                     model_params={"n_filters": 4})  # fmt: skip
    assert replay_recipe(params) == {
        "training_subjects_percentage": percentage, "subjects": subjects, "seed": 7,
        "model_name": "xdawn-riemann", "model_params": {"n_filters": 4},
    }  # fmt: skip


def test_replay_recipe_names_missing_params():
    with pytest.raises(ManifestError, match=r"missing \['seed', 'model_params'\]"):
        replay_recipe(_params(training_subjects_percentage=50.0, training_subjects=["01"],
                              model_name="lda"))  # fmt: skip


def test_train_request_carries_a_dataset_hash():
    request = parse_event(TrainRequest, {"subjects": ["01"], "dataset": SHA_A})
    assert request.dataset == SHA_A


@pytest.mark.parametrize("dataset", ["ab12", SHA_A.upper(), 42])
def test_train_request_refuses_a_dataset_that_is_not_a_full_hash(dataset):
    with pytest.raises(BadEventError, match=rf"dataset: .*, got {dataset!r}"):
        parse_event(TrainRequest, {"subjects": ["01"], "dataset": dataset})


# --- against a real (SQLite-backed) MLflow store ------------------------------------------------


def new_tracker(root) -> MlflowTracker:
    """A tracker of a fresh SQLite-backed store under ``root``, with the training experiment."""
    tracker = MlflowTracker(f"sqlite:///{root / 'mlflow.db'}", policy=RetryPolicy(1, 0))
    tracker.client.create_experiment(
        TRAINING_EXPERIMENT, artifact_location=(root / "artifacts").as_uri()
    )
    return tracker


@pytest.fixture(scope="module")
def tracker(tmp_path_factory):
    """The store of `recorded`'s runs, which its tests only read."""
    return new_tracker(tmp_path_factory.mktemp("mlflow"))


@pytest.fixture
def own_tracker(tmp_path):
    """A store of the test's own, for tests that record runs (the shared one stays as
    `recorded` left it, whatever order the tests run in)."""
    return new_tracker(tmp_path)


PARAMS = _params(training_subjects_percentage=50.0, training_subjects=["01"], seed=42,
                 model_name="lda", model_params={})  # fmt: skip


def _record(
    tracker, document: dict, *, roc_auc: float, tag: str | None = None, metric="test_roc_auc"
) -> str:
    """A finished training run that logged ``document`` as its manifest."""
    data = json_bytes(document)
    run_id = tracker.start_run(TRAINING_EXPERIMENT, run_name="lda-training", tags={})
    tracker.log_values(run_id, params=PARAMS, metrics={metric: roc_auc},
                       tags={MANIFEST_TAG: tag or sha256_hex(data)})  # fmt: skip
    tracker.log_bytes(run_id, MANIFEST_ARTIFACT, data)
    tracker.end_run(run_id)
    return run_id


@pytest.fixture(scope="module")
def recorded(tracker):
    """Runs A, B (B registered as a model version) and a run left unfinished."""
    first = {"objects": [_entry("01"), _entry("02")]}
    second = {"objects": [_entry("01"), _entry("02", version="v2"), _entry("03")]}
    run_a = _record(tracker, first, roc_auc=0.75)
    run_b = _record(tracker, second, roc_auc=0.8)
    tracker.client.create_registered_model(REGISTERED_MODEL)
    tracker.client.create_model_version(REGISTERED_MODEL, f"runs:/{run_b}/model", run_id=run_b)
    tracker.start_run(TRAINING_EXPERIMENT, run_name="running", tags={MANIFEST_TAG: SHA_A})
    return {"a": run_a, "b": run_b, "first": first, "second": second}


def test_dataset_runs_lists_finished_runs_oldest_first_with_models_and_auc(tracker, recorded):
    runs = dataset_runs(tracker)
    assert [r.run_id for r in runs] == [recorded["a"], recorded["b"]]
    assert [r.model_versions for r in runs] == [(), ("1",)]
    assert [r.roc_auc for r in runs] == [0.75, 0.8]
    assert runs[0].manifest_sha256 == sha256_hex(json_bytes(recorded["first"]))
    assert replay_recipe(runs[0].params)["training_subjects_percentage"] == 50.0


def test_resolve_manifest_by_prefix_run_id_or_file(tracker, recorded, tmp_path):
    sha_b = sha256_hex(json_bytes(recorded["second"]))
    by_prefix, run = resolve_manifest(tracker, sha_b[:8])
    assert (by_prefix.sha256, run.run_id) == (sha_b, recorded["b"])
    by_run, _ = resolve_manifest(tracker, recorded["a"])
    assert [e.subject for e in by_run.entries] == ["01", "02"]
    copy = tmp_path / "manifest.json"
    copy.write_text(json.dumps(recorded["second"]))
    from_file, recorder = resolve_manifest(tracker, str(copy))
    assert (from_file.sha256, recorder.run_id) == (sha_b, recorded["b"])
    assert diff_manifests(by_run, from_file).unchanged == 1


def test_resolve_manifest_of_an_unrecorded_file_has_no_run(tracker, recorded, tmp_path):
    copy = tmp_path / "mine.json"
    copy.write_text(json.dumps({"objects": [_entry("09")]}))
    manifest, run = resolve_manifest(tracker, str(copy))
    assert (manifest.subjects, run) == (["09"], None)
    with pytest.raises(ManifestError, match=r"MANIFEST file .*nope\.json' does not exist"):
        resolve_manifest(tracker, str(tmp_path / "nope.json"))


def test_fetch_manifest_wants_a_full_hash(tracker, recorded):
    sha_a = sha256_hex(json_bytes(recorded["first"]))
    manifest, run = fetch_manifest(tracker, sha_a)
    assert (manifest.sha256, run.run_id) == (sha_a, recorded["a"])
    with pytest.raises(ManifestError, match="full SHA-256"):
        fetch_manifest(tracker, sha_a[:10])


def test_fetch_manifest_checks_the_artifact_against_the_tag(own_tracker):
    forged = _record(own_tracker, {"objects": [_entry("07")]}, roc_auc=0.5, tag="f" * 64)
    with pytest.raises(DatasetVersionError, match=f"run {forged}'s dataset_manifest.json has"):
        fetch_manifest(own_tracker, "f" * 64)


def test_a_tuning_parent_shows_its_best_trial_roc_auc(own_tracker):
    parent = _record(own_tracker, {"objects": [_entry("08")]}, roc_auc=0.9, metric="best_roc_auc")
    (listed,) = dataset_runs(own_tracker)
    assert (listed.run_id, listed.roc_auc) == (parent, 0.9)
