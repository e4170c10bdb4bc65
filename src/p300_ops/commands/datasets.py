"""`p300 datasets`: the dataset manifests training runs recorded, one manifest, two compared;
and what `p300 train --dataset` needs to replay one."""

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import click
from click.core import ParameterSource
from rich.console import Console
from rich.table import Table

from p300_aws import datasets
from p300_aws.datasets import DatasetRun, Manifest, ManifestDiff
from p300_aws.errors import MlflowUnavailableError
from p300_aws.mlflow_tracking import MlflowTracker
from p300_ops.commands.common import echo_json, home_option, json_option, running_cloud

SHORT = 12
MANIFEST_HELP = "a SHA-256 or a unique prefix of it, a training run id or a manifest JSON file"
#: `p300 train` options a replay takes from the recorded run unless given on the command line.
SPLIT_OPTIONS, SEED_OPTION, MODEL_OPTION, PARAMS_OPTION = (
    {"percentage", "subjects"}, "seed", "model", "params",
)  # fmt: skip


def tracker_of(home: str | None) -> MlflowTracker:
    """The MLflow tracker of the running local cloud in ``home``."""
    return MlflowTracker(running_cloud(home).tracking_uri)


@contextmanager
def dataset_errors() -> Iterator[None]:
    """Turn manifest, data-version and MLflow errors into one clean CLI error."""
    try:
        yield
    except (datasets.ManifestError, datasets.DatasetVersionError, MlflowUnavailableError) as exc:
        raise click.ClickException(str(exc)) from None


def given_options(ctx: click.Context) -> set[str]:
    """Names of the parameters of ``ctx`` set on the command line or by the environment."""
    return {
        name
        for name in ctx.params
        if ctx.get_parameter_source(name)
        in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    }


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


def replay_request(home: str | None, reference: str, request: Mapping, *, given: set[str]) -> dict:
    """`replayed` for the manifest ``reference`` names, looked up in the running cloud's MLflow.

    Raises
    ------
    click.ClickException
        When the reference names no manifest, or no training run recorded it (the training
        Lambda fetches the manifest from that run).
    """
    with dataset_errors():
        manifest, run = datasets.resolve_manifest(tracker_of(home), reference)
        if run is None:
            raise click.ClickException(
                f"manifest {manifest.sha256} ({reference}) was not recorded by any training run: "
                "--dataset needs a manifest that MLflow holds"
            )
        return replayed(request, datasets.replay_recipe(run.params), given=given,
                        sha256=manifest.sha256)  # fmt: skip


def runs_table(runs: Sequence[DatasetRun], manifests: Mapping[str, Manifest]) -> Table:
    """One row per training run: its manifest, what the manifest holds, models, ROC-AUC."""
    table = Table("run", "started (UTC)", "manifest", "subjects", "sessions", "objects",
                  "model versions", "held-out ROC-AUC")  # fmt: skip
    for run in runs:
        manifest = manifests[run.manifest_sha256]
        table.add_row(
            run.run_id, f"{run.start_time:%Y-%m-%d %H:%M:%S}", run.manifest_sha256[:SHORT],
            str(len(manifest.subjects)), str(len(manifest.sessions)), str(len(manifest.entries)),
            ", ".join(run.model_versions) or "-",
            "-" if run.roc_auc is None else f"{run.roc_auc:.3f}",
        )  # fmt: skip
    return table


def run_row(run: DatasetRun, manifest: Manifest) -> dict:
    """The JSON form of one `runs_table` row."""
    return {
        "run_id": run.run_id,
        "start_time": run.start_time.isoformat(),
        "manifest_sha256": run.manifest_sha256,
        "n_subjects": len(manifest.subjects),
        "n_sessions": len(manifest.sessions),
        "n_objects": len(manifest.entries),
        "model_versions": list(run.model_versions),
        "roc_auc": run.roc_auc,
    }


def manifest_table(manifest: Manifest) -> Table:
    """One row per object version of the manifest."""
    table = Table("subject", "session", "key", "version id", "sha256",
                  title=f"manifest {manifest.sha256}")  # fmt: skip
    for e in manifest.entries:
        table.add_row(e.subject, e.session, e.key, str(e.version_id), e.sha256[:SHORT])
    return table


def diff_table(diff: ManifestDiff) -> Table:
    """Added, removed and changed objects, with their version ids before and after."""
    table = Table("change", "key", "version before", "version after",
                  caption=f"{diff.unchanged} objects unchanged")  # fmt: skip
    for e in diff.added:
        table.add_row("added", e.key, "-", str(e.version_id))
    for e in diff.removed:
        table.add_row("removed", e.key, str(e.version_id), "-")
    for old, new in diff.changed:
        table.add_row("changed", new.key, str(old.version_id), str(new.version_id))
    return table


@click.group("datasets")
def datasets_group() -> None:
    """Dataset versions: the exact features object versions each training run read.

    \b
    Example:
      p300 datasets list
      p300 datasets diff 3f2a9c 8be041
      p300 train --dataset 3f2a9c
    """


@datasets_group.command("list")
@json_option
@home_option
def list_command(as_json, home) -> None:
    """List the dataset manifests of finished training runs, oldest first.

    \b
    Example:
      p300 datasets list --json
    """
    with dataset_errors():
        tracker = tracker_of(home)
        runs = datasets.dataset_runs(tracker)
        manifests = {}
        for run in runs:
            if run.manifest_sha256 not in manifests:
                manifests[run.manifest_sha256] = datasets.download_manifest(tracker, run)
    if as_json:
        echo_json([run_row(run, manifests[run.manifest_sha256]) for run in runs])
    else:
        Console().print(runs_table(runs, manifests))


@datasets_group.command("show")
@click.argument("manifest", metavar="MANIFEST")
@json_option
@home_option
def show_command(manifest, as_json, home) -> None:
    """Show the object versions of one dataset manifest.

    MANIFEST is a SHA-256 or a unique prefix of it, a training run id or a manifest JSON file.

    \b
    Example:
      p300 datasets show 3f2a9c
    """
    with dataset_errors():
        found, run = datasets.resolve_manifest(tracker_of(home), manifest)
    if as_json:
        echo_json({"sha256": found.sha256, "run_id": run and run.run_id} | found.to_dict())
    else:
        Console().print(manifest_table(found))
        click.echo(f"recorded by run {run.run_id}" if run else "recorded by no training run")


@datasets_group.command("diff")
@click.argument("old", metavar="A")
@click.argument("new", metavar="B")
@json_option
@home_option
def diff_command(old, new, as_json, home) -> None:
    """Show what changed between two dataset manifests.

    A and B are each a SHA-256 or a unique prefix of it, a training run id or a manifest JSON
    file. Objects are matched by key; "changed" means another version of the same key.

    \b
    Example:
      p300 datasets diff 3f2a9c 8be041
    """
    with dataset_errors():
        tracker = tracker_of(home)
        before, _ = datasets.resolve_manifest(tracker, old)
        after, _ = datasets.resolve_manifest(tracker, new)
    diff = datasets.diff_manifests(before, after)
    if as_json:
        echo_json({"old": before.sha256, "new": after.sha256} | diff.to_dict())
    else:
        click.echo(f"{before.sha256[:SHORT]} → {after.sha256[:SHORT]}")
        Console().print(diff_table(diff))
