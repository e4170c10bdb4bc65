"""`p300 datasets`: the dataset manifests training runs recorded, one manifest, two compared
(`p300_ops.services.dataset_versions`)."""

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import click
from click.core import ParameterSource
from rich.console import Console
from rich.table import Table

from p300_aws.datasets import DatasetRun, Manifest, ManifestDiff, resolve_manifest
from p300_aws.errors import MlflowUnavailableError
from p300_aws.mlflow_tracking import MlflowTracker
from p300_ops.commands.common import echo_json, home_option, json_option
from p300_ops.services import cloud
from p300_ops.services.dataset_versions import (
    DATASET_ERRORS,
    compare,
    list_datasets,
    run_row,
    study_of,
)

SHORT = 12
MANIFEST_HELP = "a SHA-256 or a unique prefix of it, a training run id or a manifest JSON file"


def tracker_of(home: str | None) -> MlflowTracker:
    """The MLflow tracker of the running local cloud in ``home``."""
    return MlflowTracker(cloud.running_cloud(home).tracking_uri)


@contextmanager
def dataset_errors() -> Iterator[None]:
    """Turn manifest, data-version and MLflow errors into one clean CLI error."""
    try:
        yield
    except (*DATASET_ERRORS, MlflowUnavailableError) as exc:
        raise click.ClickException(str(exc)) from None


def given_options(ctx: click.Context) -> set[str]:
    """Names of the parameters of ``ctx`` set on the command line or by the environment."""
    return {
        name
        for name in ctx.params
        if ctx.get_parameter_source(name)
        in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    }


def runs_table(runs: Sequence[DatasetRun], manifests: Mapping[str, Manifest]) -> Table:
    """One row per training run: its manifest, what the manifest holds, models, ROC-AUC."""
    table = Table("run", "started (UTC)", "study", "manifest", "subjects", "sessions", "objects",
                  "model versions", "held-out ROC-AUC")  # fmt: skip
    for run in runs:
        manifest = manifests[run.manifest_sha256]
        table.add_row(
            run.run_id, f"{run.start_time:%Y-%m-%d %H:%M:%S}", study_of(run, manifest),
            run.manifest_sha256[:SHORT],
            str(len(manifest.subjects)), str(len(manifest.sessions)), str(len(manifest.entries)),
            ", ".join(run.model_versions) or "-",
            "-" if run.roc_auc is None else f"{run.roc_auc:.3f}",
        )  # fmt: skip
    return table


def manifest_table(manifest: Manifest) -> Table:
    """One row per object version of the manifest."""
    study = f" (study {manifest.study})" if manifest.study else ""
    table = Table("subject", "session", "key", "version id", "sha256",
                  title=f"manifest {manifest.sha256}{study}")  # fmt: skip
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
        listing = list_datasets(tracker_of(home))
    if as_json:
        echo_json([run_row(run, listing.manifests[run.manifest_sha256]) for run in listing.runs])
    else:
        Console().print(runs_table(listing.runs, listing.manifests))


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
        found, run = resolve_manifest(tracker_of(home), manifest)
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
        before, after, diff = compare(tracker_of(home), old, new)
    if as_json:
        echo_json({"old": before.sha256, "new": after.sha256} | diff.to_dict())
    else:
        click.echo(f"{before.sha256[:SHORT]} → {after.sha256[:SHORT]}")
        Console().print(diff_table(diff))
