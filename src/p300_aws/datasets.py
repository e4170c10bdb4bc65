"""Dataset versions: the manifests training runs record, their differences, and their bytes.

Every training run logs ``dataset_manifest.json`` (its study, and the bucket, key, version id,
SHA-256, subject and session of each features object it read) and tags itself with the
manifest's SHA-256. Because the features bucket is versioned, a manifest names data that stays
readable after newer versions are written: training again on exactly those versions reproduces
the run. A manifest is named by its SHA-256 (or a unique prefix of it), by the id of a run that
recorded it, or by a local copy of the JSON file.
"""

import json
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import botocore.exceptions

from p300_aws.errors import MissingObjectError
from p300_aws.mlflow_tracking import MlflowTracker, json_bytes
from p300_aws.names import REGISTERED_MODEL, STUDY_TAG, TRAINING_EXPERIMENT
from p300_aws.s3_objects import read_object, sha256_hex

MANIFEST_TAG = "dataset_manifest_sha256"
MANIFEST_ARTIFACT = "dataset_manifest.json"
ROC_AUC_METRIC = "test_roc_auc"
#: What a tuning parent run (its models come from its trial runs) logs instead.
BEST_ROC_AUC_METRIC = "best_roc_auc"
#: Run params that fix the split and the model: what `replay_recipe` reads back.
RECIPE_PARAMS = ("training_subjects_percentage", "training_subjects", "seed", "model_name",
                 "model_params")  # fmt: skip
ENTRY_FIELDS = ("bucket", "key", "version_id", "sha256", "subject", "session")
MIN_PREFIX = 4
_SHA256 = re.compile(r"[0-9a-f]{64}")
_HEX = re.compile(r"[0-9a-f]+")


class ManifestError(ValueError):
    """A manifest argument that names no manifest, or a document that is not a manifest."""


class DatasetVersionError(RuntimeError):
    """A manifest's object version is gone or no longer has the recorded SHA-256."""


@dataclass(frozen=True)
class ManifestEntry:
    """One features object version of a manifest (``version_id`` None: unversioned bucket)."""

    bucket: str
    key: str
    version_id: str | None
    sha256: str
    subject: str
    session: str


@dataclass(frozen=True)
class Manifest:
    """A dataset manifest and its SHA-256 (of its canonical JSON, as training logs it);
    ``study`` None for a manifest recorded before studies existed (``system-a``'s data)."""

    entries: tuple[ManifestEntry, ...]
    sha256: str
    study: str | None = None

    @property
    def subjects(self) -> list[str]:
        return sorted({e.subject for e in self.entries})

    @property
    def sessions(self) -> list[tuple[str, str]]:
        return sorted({(e.subject, e.session) for e in self.entries})

    def to_dict(self) -> dict:
        study = {} if self.study is None else {"study": self.study}
        return study | {"objects": [entry_dict(e) for e in self.entries]}


def entry_dict(entry: ManifestEntry) -> dict:
    """The manifest JSON form of one entry."""
    return {name: getattr(entry, name) for name in ENTRY_FIELDS}


def parse_manifest(document: bytes | str | Mapping) -> Manifest:
    """Check a manifest document (JSON text or parsed) and compute its SHA-256.

    Raises
    ------
    ManifestError
        When it is not JSON or not ``{"study"?: name, "objects": [{bucket, key, version_id,
        sha256, subject, session}, ...]}``.
    """
    if not isinstance(document, Mapping):
        try:
            document = json.loads(document)
        except ValueError as exc:
            raise ManifestError(f"a manifest must be JSON, got invalid JSON: {exc}") from None
    objects = document.get("objects") if isinstance(document, Mapping) else None
    if not isinstance(objects, list):
        raise ManifestError(
            f"a manifest must be an object with an 'objects' list, got "
            f"{sorted(document) if isinstance(document, Mapping) else type(document).__name__}"
        )
    study = document.get("study")
    if study is not None and not isinstance(study, str):
        raise ManifestError(f"a manifest's study must be a name, got {study!r}")
    entries = tuple(_entry(i, item) for i, item in enumerate(objects))
    return Manifest(entries, sha256_hex(json_bytes(dict(document))), study)


def _entry(index: int, item: object) -> ManifestEntry:
    if not isinstance(item, Mapping) or set(item) != set(ENTRY_FIELDS):
        found = sorted(item) if isinstance(item, Mapping) else type(item).__name__
        raise ManifestError(
            f"manifest object {index} must have exactly the fields {list(ENTRY_FIELDS)}, "
            f"got {found}"
        )
    if not _SHA256.fullmatch(str(item["sha256"])):
        raise ManifestError(
            f"manifest object {index} sha256 must be 64 hex digits, got {item['sha256']!r}"
        )
    return ManifestEntry(**{name: item[name] for name in ENTRY_FIELDS})


@dataclass(frozen=True)
class ManifestDiff:
    """What changed from manifest ``old`` to ``new``, objects matched by bucket and key."""

    added: tuple[ManifestEntry, ...]
    removed: tuple[ManifestEntry, ...]
    #: (old, new) pairs: same key, another version id or SHA-256.
    changed: tuple[tuple[ManifestEntry, ManifestEntry], ...]
    unchanged: int

    def to_dict(self) -> dict:
        return {
            "added": [entry_dict(e) for e in self.added],
            "removed": [entry_dict(e) for e in self.removed],
            "changed": [
                {"old": entry_dict(old), "new": entry_dict(new)} for old, new in self.changed
            ],
            "unchanged": self.unchanged,
        }


def diff_manifests(old: Manifest, new: Manifest) -> ManifestDiff:
    """Objects added, removed and changed (same key, other version or bytes), sorted by key."""
    before = {(e.bucket, e.key): e for e in old.entries}
    after = {(e.bucket, e.key): e for e in new.entries}
    common = sorted(before.keys() & after.keys())
    changed = tuple(
        (before[k], after[k])
        for k in common
        if (before[k].version_id, before[k].sha256) != (after[k].version_id, after[k].sha256)
    )
    return ManifestDiff(
        added=tuple(after[k] for k in sorted(after.keys() - before.keys())),
        removed=tuple(before[k] for k in sorted(before.keys() - after.keys())),
        changed=changed,
        unchanged=len(common) - len(changed),
    )


@dataclass(frozen=True)
class DatasetRun:
    """A finished training run that recorded a manifest."""

    run_id: str
    start_time: datetime
    manifest_sha256: str
    params: Mapping[str, str]
    roc_auc: float | None
    model_versions: tuple[str, ...] = ()
    #: The ``p300.study`` tag; None for a run from before studies (``system-a``'s data).
    study: str | None = None


def match_reference(reference: str, runs: Sequence[DatasetRun]) -> DatasetRun:
    """The run a manifest ``reference`` (a run id, a SHA-256 or its unique prefix) names.

    For a SHA-256 several runs (a run and its replays) may share, the earliest run is the one
    returned: it is the one whose recipe recorded the manifest first.

    Raises
    ------
    ManifestError
        When the reference matches no run, or a prefix matches several manifests.
    """
    text = reference.strip().lower()
    for run in runs:
        if run.run_id == text:
            return run
    if len(text) < MIN_PREFIX or not _HEX.fullmatch(text):
        raise ManifestError(
            f"MANIFEST must be a run id, a SHA-256 (or a prefix of at least {MIN_PREFIX} hex "
            f"digits) or a manifest JSON file, got {reference!r}"
        )
    found = sorted({r.manifest_sha256 for r in runs if r.manifest_sha256.startswith(text)})
    if not found:
        raise ManifestError(
            f"no training run recorded a dataset manifest matching {reference!r} "
            f"({len(runs)} runs searched; `p300 datasets list` shows them)"
        )
    if len(found) > 1:
        raise ManifestError(
            f"manifest prefix {reference!r} is ambiguous: it matches {', '.join(found)}"
        )
    return min((r for r in runs if r.manifest_sha256 == found[0]), key=lambda r: r.start_time)


def replay_recipe(params: Mapping[str, str]) -> dict:
    """The split and model a run was trained with, from its MLflow params (JSON text).

    Returns the `p300 train` choices: ``training_subjects_percentage`` (None when the run named
    its subjects), ``subjects`` (the named training subjects, else None), ``seed``,
    ``model_name`` and ``model_params``.
    """
    missing = [name for name in RECIPE_PARAMS if name not in params]
    if missing:
        raise ManifestError(
            f"the run's params must include {list(RECIPE_PARAMS)} to be replayed, missing {missing}"
        )
    percentage = json.loads(params["training_subjects_percentage"])
    return {
        "training_subjects_percentage": percentage,
        "subjects": None if percentage is not None else json.loads(params["training_subjects"]),
        "seed": json.loads(params["seed"]),
        "model_name": params["model_name"],
        "model_params": json.loads(params["model_params"]),
    }


# --- MLflow -------------------------------------------------------------------------------------


def dataset_runs(tracker: MlflowTracker) -> list[DatasetRun]:
    """Every finished training run that recorded a manifest, oldest first, with the versions of
    ``P300-Classifier`` registered from it."""
    experiment = tracker.retry(
        lambda: tracker.client.get_experiment_by_name(TRAINING_EXPERIMENT),
        what="find the training experiment",
    )
    if experiment is None:
        return []
    found = tracker.retry(
        lambda: _all_runs(tracker.client, experiment.experiment_id), what="search training runs"
    )
    versions = tracker.retry(
        lambda: tracker.client.search_model_versions(f"name = '{REGISTERED_MODEL}'"),
        what="list model versions",
    )
    by_run: dict[str, list[str]] = {}
    for version in versions:
        by_run.setdefault(version.run_id, []).append(str(version.version))
    return [
        DatasetRun(
            run_id=run.info.run_id,
            start_time=datetime.fromtimestamp(run.info.start_time / 1000, UTC),
            manifest_sha256=run.data.tags[MANIFEST_TAG],
            params=dict(run.data.params),
            roc_auc=run.data.metrics.get(ROC_AUC_METRIC, run.data.metrics.get(BEST_ROC_AUC_METRIC)),
            model_versions=tuple(sorted(by_run.get(run.info.run_id, []), key=int)),
            study=run.data.tags.get(STUDY_TAG),
        )
        for run in found
        if MANIFEST_TAG in run.data.tags
    ]


def _all_runs(client, experiment_id: str) -> list:
    runs, token = [], None
    while True:
        page = client.search_runs(
            [experiment_id],
            filter_string="attributes.status = 'FINISHED'",
            order_by=["attributes.start_time ASC"],
            page_token=token,
        )
        runs += list(page)
        token = page.token
        if not token:
            return runs


def download_manifest(tracker: MlflowTracker, run: DatasetRun) -> Manifest:
    """The manifest ``run`` logged, checked against the SHA-256 it was tagged with."""
    with tempfile.TemporaryDirectory() as tmp:
        path = tracker.retry(
            lambda: tracker.client.download_artifacts(run.run_id, MANIFEST_ARTIFACT, tmp),
            what=f"download {MANIFEST_ARTIFACT} of run {run.run_id}",
        )
        manifest = parse_manifest(Path(path).read_bytes())
    if manifest.sha256 != run.manifest_sha256:
        raise DatasetVersionError(
            f"run {run.run_id}'s {MANIFEST_ARTIFACT} has SHA-256 {manifest.sha256}, "
            f"but the run is tagged {MANIFEST_TAG}={run.manifest_sha256}"
        )
    return manifest


def resolve_manifest(tracker: MlflowTracker, reference: str) -> tuple[Manifest, DatasetRun | None]:
    """The manifest ``reference`` names and the earliest run that recorded it.

    ``reference`` is a local manifest JSON file, a run id, or a SHA-256 or unique prefix. For a
    file no run may have recorded; the run is None then.
    """
    runs = dataset_runs(tracker)
    path = Path(reference)
    if path.suffix == ".json" or path.is_file():
        if not path.is_file():
            raise ManifestError(f"MANIFEST file {reference!r} does not exist")
        manifest = parse_manifest(path.read_bytes())
        recorders = [r for r in runs if r.manifest_sha256 == manifest.sha256]
        return manifest, (recorders[0] if recorders else None)
    run = match_reference(reference, runs)
    return download_manifest(tracker, run), run


def fetch_manifest(tracker: MlflowTracker, sha256: str) -> tuple[Manifest, DatasetRun]:
    """The manifest with this full SHA-256 and the earliest run that recorded it (the Lambda's
    lookup: the event carries only the hash)."""
    if not _SHA256.fullmatch(sha256):
        raise ManifestError(f"dataset must be a full SHA-256 (64 hex digits), got {sha256!r}")
    run = match_reference(sha256, dataset_runs(tracker))
    return download_manifest(tracker, run), run


# --- S3 -----------------------------------------------------------------------------------------


def read_manifest_versions(s3, manifest: Manifest) -> list[tuple[ManifestEntry, bytes]]:
    """The bytes of exactly the object versions of ``manifest``, each verified by SHA-256.

    Raises
    ------
    DatasetVersionError
        When a version was deleted (or is a delete marker) or its bytes have another SHA-256;
        the message names the key and the version.
    """
    return [(entry, _read_entry(s3, entry)) for entry in manifest.entries]


def _read_entry(s3, entry: ManifestEntry) -> bytes:
    where = f"s3://{entry.bucket}/{entry.key} version {entry.version_id}"
    try:
        body = read_object(s3, entry.bucket, entry.key, version_id=entry.version_id).body
    except MissingObjectError:
        raise DatasetVersionError(f"{where} no longer exists (deleted)") from None
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "MethodNotAllowed":
            raise
        raise DatasetVersionError(f"{where} is a delete marker, not data") from None
    if sha256_hex(body) != entry.sha256:
        raise DatasetVersionError(
            f"{where} has SHA-256 {sha256_hex(body)}, the manifest recorded {entry.sha256}"
        )
    return body
