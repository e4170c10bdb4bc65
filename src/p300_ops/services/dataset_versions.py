"""The dataset versions training runs recorded, as `p300 datasets` and `p300 train --dataset` use
them: every run with its manifest, one manifest, two compared, and a replay's training input.

The manifests themselves (format, lookup in MLflow, reading their object versions) are
`p300_aws.datasets`, which the training Lambda uses too.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from p300.studies import SYSTEM_A_NAME
from p300_aws import datasets
from p300_aws.datasets import DatasetRun, Manifest, ManifestDiff
from p300_aws.mlflow_tracking import MlflowTracker
from p300_ops.services.errors import ServiceError

#: `p300 train` options a replay takes from the recorded run unless given on the command line.
SPLIT_OPTIONS, SEED_OPTION, MODEL_OPTION, PARAMS_OPTION = (
    {"percentage", "subjects"}, "seed", "model", "params",
)  # fmt: skip
STUDY_OPTION = "study"
#: What the library raises about manifests, data versions and MLflow: user errors all.
DATASET_ERRORS = (datasets.ManifestError, datasets.DatasetVersionError)


@dataclass(frozen=True)
class DatasetListing:
    """Every finished training run with a manifest, oldest first, and each manifest by SHA-256."""

    runs: list[DatasetRun]
    manifests: dict[str, Manifest]


def list_datasets(tracker: MlflowTracker) -> DatasetListing:
    """The training runs that recorded a dataset manifest, and their manifests."""
    runs = datasets.dataset_runs(tracker)
    manifests: dict[str, Manifest] = {}
    for run in runs:
        if run.manifest_sha256 not in manifests:
            manifests[run.manifest_sha256] = datasets.download_manifest(tracker, run)
    return DatasetListing(runs, manifests)


def study_of(run: DatasetRun, manifest: Manifest) -> str:
    """The study a run trained on: its manifest's, else its tag's; runs from before studies
    existed read ``system-a``'s features, the only study there was."""
    return manifest.study or run.study or SYSTEM_A_NAME


def run_row(run: DatasetRun, manifest: Manifest) -> dict:
    """One run of a `DatasetListing` as JSON-ready data."""
    return {
        "run_id": run.run_id,
        "start_time": run.start_time.isoformat(),
        "study": study_of(run, manifest),
        "manifest_sha256": run.manifest_sha256,
        "n_subjects": len(manifest.subjects),
        "n_sessions": len(manifest.sessions),
        "n_objects": len(manifest.entries),
        "model_versions": list(run.model_versions),
        "roc_auc": run.roc_auc,
    }


def compare(tracker: MlflowTracker, old: str, new: str) -> tuple[Manifest, Manifest, ManifestDiff]:
    """The manifests ``old`` and ``new`` name (`datasets.resolve_manifest`) and their diff."""
    before, _ = datasets.resolve_manifest(tracker, old)
    after, _ = datasets.resolve_manifest(tracker, new)
    return before, after, datasets.diff_manifests(before, after)


def replayed(request: Mapping, recipe: Mapping, *, given: set[str], sha256: str) -> dict:
    """The ``p300-train`` input ``request`` on dataset ``sha256``, its split, seed, model and
    model params taken from the recorded run's ``recipe`` (see `datasets.replay_recipe`)
    where the command line did not give them (``given``: `p300 train` parameter names)."""
    replay = dict(request) | {"dataset": sha256}
    if not given & SPLIT_OPTIONS:
        replay["training_subjects_percentage"] = recipe["training_subjects_percentage"]
        replay["subjects"] = recipe["subjects"]
    for option, field in ((SEED_OPTION, "seed"), (MODEL_OPTION, "model_name"),
                          (PARAMS_OPTION, "model_params")):  # fmt: skip
        if option not in given:
            replay[field] = recipe[field]
    return replay


def replay_request(
    tracker: MlflowTracker, reference: str, request: Mapping, *, given: set[str]
) -> dict:
    """`replayed` for the manifest ``reference`` names, looked up in MLflow.

    Raises
    ------
    ServiceError
        When no training run recorded the manifest (the training Lambda fetches it from that
        run); `DATASET_ERRORS` when the reference names no manifest.
    """
    manifest, run = datasets.resolve_manifest(tracker, reference)
    if run is None:
        raise ServiceError(
            f"manifest {manifest.sha256} ({reference}) was not recorded by any training run: "
            "--dataset needs a manifest that MLflow holds"
        )
    study = study_of(run, manifest)
    if STUDY_OPTION in given and request.get("study") != study:
        raise ServiceError(
            f"manifest {manifest.sha256[:12]} holds study {study!r}'s data, not --study "
            f"{request.get('study')!r}: a training reads one study only"
        )
    replay = replayed(request, datasets.replay_recipe(run.params), given=given,
                      sha256=manifest.sha256)  # fmt: skip
    return replay | {"study": study}
