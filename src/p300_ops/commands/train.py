"""`p300 train`: start the `p300-train` state machine with System A's arguments
(`p300_ops.services.training_runs`)."""

from collections.abc import Mapping
from contextlib import nullcontext

import click
from rich.console import Console
from rich.table import Table

from p300.studies import SYSTEM_A_NAME
from p300_ops.commands.common import aws_errors, echo_json, home_option, json_option, usage_errors
from p300_ops.commands.datasets import MANIFEST_HELP, dataset_errors, given_options, tracker_of
from p300_ops.services import cloud
from p300_ops.services.dataset_versions import replay_request
from p300_ops.services.training_runs import (
    DEFAULT_PERCENTAGE,
    parse_params,
    run_training,
    train_request,
    tuning_fields,
)


def tuning_table(output: Mapping) -> Table:
    """One row per trial (parameters, held-out ROC-AUC, status, duration), the winner marked."""
    table = Table("trial", "parameters", "ROC-AUC", "status", "duration", title="Tuning trials")
    for row in output.get("trials") or []:
        auc, duration = row.get("roc_auc"), row.get("duration_s")
        winner = row.get("index") == output.get("best_trial")
        table.add_row(
            f"{row.get('index')}{' *' if winner else ''}",
            str(row.get("label") or row.get("params")),
            "-" if auc is None else f"{auc:.3f}",
            str(row.get("status")) + (f": {row.get('error')}" if row.get("error") else ""),
            "-" if duration is None else f"{duration:.1f} s",
        )
    table.caption = (
        f"* best: trial {output.get('best_trial')} → {output.get('model_name')} version "
        f"{output.get('model_version')} (alias {output.get('alias') or '-'}), parent run "
        f"{output.get('run_id')}"
    )
    return table


def result_table(output: Mapping) -> Table:
    """The training result: run, model version, alias, subjects and pooled held-out metrics."""
    table = Table("", "", show_header=False)
    table.add_row("MLflow run", str(output.get("run_id")))
    table.add_row("model", f"{output.get('model_name')} version {output.get('model_version')}")
    table.add_row("study", f"{output.get('study')} (profile v{output.get('study_version')})")
    table.add_row("alias", str(output.get("alias") or "-"))
    table.add_row("training subjects", ", ".join(output.get("training_subjects") or []))
    table.add_row("test subjects", ", ".join(output.get("test_subjects") or []))
    for name, value in (output.get("metrics") or {}).items():
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        table.add_row(f"held-out {name}", shown)
    return table


@click.command()
@click.option(
    "--training-subjects-percentage",
    "percentage",
    type=click.FloatRange(0, 100, min_open=True, max_open=True),
    help=f"Share of the processed subjects to train on (default {DEFAULT_PERCENTAGE:g}).",
)
@click.option("--subjects", help="Train on these subjects instead, e.g. 01,02,05.")
@click.option(
    "--study",
    default=SYSTEM_A_NAME,
    show_default=True,
    help="Train on this study's subjects only (studies are never mixed).",
)
@click.option(
    "--auto-set-challenger-alias",
    is_flag=True,
    help="Point the alias 'challenger' at the new model version.",
)
@click.option("--model", default="lda", show_default=True, help="lda, xdawn-riemann or xdawn-mdm.")
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="A model hyperparameter (repeatable), e.g. --param shrinkage=0.1.",
)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option(
    "--dataset",
    metavar="MANIFEST",
    help=f"Train on exactly the data of a dataset manifest ({MANIFEST_HELP}), with the split, "
    "seed and model of the run that recorded it unless given here.",
)
@click.option(
    "--tune",
    is_flag=True,
    help="Tune instead: train every parameter set of the search as a nested MLflow run and "
    "register the best by held-out ROC-AUC (default search: LDA shrinkage, window, "
    "decimation).",
)
@click.option(
    "--trials",
    type=click.IntRange(min=1),
    help="Tune with at most this many parameter sets drawn from the search (implies --tune).",
)
@click.option(
    "--grid",
    metavar="NAME=V,V;…",
    help="Tune over this grid (implies --tune), e.g. "
    "'model=lda,xdawn-riemann;shrinkage=auto,0.1;window=0:0.6,0.2:0.5;decimation=1,2'.",
)
@click.option(
    "--max-concurrency",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Trials trained at the same time.",
)
@click.option("--wait/--no-wait", default=True, show_default=True)
@click.option(
    "--timeout", type=float, default=1800.0, show_default=True, help="Seconds --wait waits at most."
)
@json_option
@home_option
def train(percentage, subjects, study, auto_set_challenger_alias, model, params, seed, dataset,
          tune, trials, grid, max_concurrency, wait, timeout, as_json, home) -> None:  # fmt: skip
    """Train a model on the processed subjects and register it in MLflow.

    \b
    Example:
      p300 train --training-subjects-percentage 50 --auto-set-challenger-alias
      p300 train --study speller --subjects 01,02 --model xdawn-riemann
      p300 train --dataset 3f2a9c   # again on that dataset version, same split
      p300 train --grid "shrinkage=auto,0.1;window=0:0.6,0.2:0.5" --auto-set-challenger-alias
    """
    with usage_errors():
        request = train_request(
            percentage=percentage, subjects=subjects, model=model, seed=seed, study=study,
            auto_set_challenger_alias=auto_set_challenger_alias, model_params=parse_params(params),
        )  # fmt: skip
        if tune or trials or grid:
            if params or model != "lda":
                raise ValueError(
                    "with --tune give models and parameters in --grid, not --model/--param"
                )
            request |= tuning_fields(trials=trials, grid=grid, max_concurrency=max_concurrency)
    if dataset:
        given = given_options(click.get_current_context())
        with dataset_errors():
            request = replay_request(tracker_of(home), dataset, request, given=given)
    sfn = cloud.connect(home).stepfunctions
    waiting = Console(stderr=True).status("training ...") if wait else nullcontext()
    with aws_errors("training"), waiting:
        training = run_training(sfn, request, wait=wait, timeout=timeout)
    if not wait:
        _started(training.name, training.arn, as_json)
    elif as_json:
        echo_json(training.output)
    elif "trials" in training.output:
        Console().print(tuning_table(training.output))
    else:
        Console().print(result_table(training.output))


def _started(name: str, arn: str, as_json: bool) -> None:
    if as_json:
        echo_json({"execution": name, "execution_arn": arn})
    else:
        click.echo(f"started {name}; follow it with: p300 executions show {name} --wait")
