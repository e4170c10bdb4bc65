"""`p300 train`: start the `p300-train` state machine with System A's arguments."""

import json
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime

import click
from rich.console import Console
from rich.table import Table

from p300_aws.names import TRAIN_STATE_MACHINE
from p300_ops.commands import keys
from p300_ops.commands.common import aws_errors, cloud_clients, echo_json, home_option, json_option
from p300_ops.commands.datasets import MANIFEST_HELP, given_options, replay_request
from p300_ops.commands.executions import state_machine_arn, wait_for
from p300_ops.commands.history import readable_cause

DEFAULT_PERCENTAGE = 50.0


def train_request(
    *,
    percentage: float | None = None,
    subjects: str | None = None,
    auto_set_challenger_alias: bool = False,
    model: str = "lda",
    model_params: Mapping[str, object] | None = None,
    seed: int = 42,
) -> dict:
    """The ``p300-train`` input: train on ``percentage`` % of the subjects (default 50) or on the
    comma-separated ``subjects``.

    Raises
    ------
    ValueError
        When both ``percentage`` and ``subjects`` are given, or a subject id is malformed.
    """
    if percentage is not None and subjects is not None:
        raise ValueError(
            "give --training-subjects-percentage or --subjects, not both, got "
            f"{percentage!r} and {subjects!r}"
        )
    chosen = None
    if subjects is not None:
        chosen = [keys.label(s, name="--subjects") for s in subjects.split(",") if s.strip()]
        if not chosen:
            raise ValueError(f"--subjects must name at least one subject, got {subjects!r}")
    return {
        "training_subjects_percentage": None if chosen else (percentage or DEFAULT_PERCENTAGE),
        "subjects": chosen,
        "auto_set_challenger_alias": auto_set_challenger_alias,
        "model_name": model,
        "model_params": dict(model_params or {}),
        "seed": seed,
    }


def parse_params(pairs: tuple[str, ...]) -> dict[str, object]:
    """``("shrinkage=0.1", "solver=lsqr")`` → ``{"shrinkage": 0.1, "solver": "lsqr"}`` (values
    read as JSON when they are JSON, else kept as text)."""
    params = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"--param must be NAME=VALUE, got {pair!r}")
        try:
            params[name] = json.loads(text)
        except ValueError:
            params[name] = text
    return params


def result_table(output: Mapping) -> Table:
    """The training result: run, model version, alias, subjects and pooled held-out metrics."""
    table = Table("", "", show_header=False)
    table.add_row("MLflow run", str(output.get("run_id")))
    table.add_row("model", f"{output.get('model_name')} version {output.get('model_version')}")
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
    "--auto-set-challenger-alias",
    is_flag=True,
    help="Point the alias 'challenger' at the new model version.",
)
@click.option("--model", default="lda", show_default=True, help="lda or xdawn-riemann.")
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
@click.option("--wait/--no-wait", default=True, show_default=True)
@click.option(
    "--timeout", type=float, default=1800.0, show_default=True, help="Seconds --wait waits at most."
)
@json_option
@home_option
def train(percentage, subjects, auto_set_challenger_alias, model, params, seed, dataset, wait,
          timeout, as_json, home) -> None:  # fmt: skip
    """Train a model on the processed subjects and register it in MLflow.

    \b
    Example:
      p300 train --training-subjects-percentage 50 --auto-set-challenger-alias
      p300 train --dataset 3f2a9c   # again on that dataset version, same split
    """
    try:
        request = train_request(
            percentage=percentage, subjects=subjects, model=model, seed=seed,
            auto_set_challenger_alias=auto_set_challenger_alias, model_params=parse_params(params),
        )  # fmt: skip
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if dataset:
        given = given_options(click.get_current_context())
        request = replay_request(home, dataset, request, given=given)
    sfn = cloud_clients(home).stepfunctions
    name = f"train-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
    with aws_errors("starting the training"):
        arn = sfn.start_execution(
            stateMachineArn=state_machine_arn(sfn, TRAIN_STATE_MACHINE),
            name=name,
            input=json.dumps(request),
        )["executionArn"]
        if not wait:
            _started(name, arn, as_json)
            return
        described = wait_for(sfn, arn, timeout=timeout)
    if described["status"] != "SUCCEEDED":
        raise click.ClickException(
            f"training {described['status']}: {described.get('error', '')}: "
            f"{readable_cause(described.get('cause'))} (details: p300 executions show {name})"
        )
    if as_json:
        echo_json(described["output"])
    else:
        Console().print(result_table(described["output"]))


def _started(name: str, arn: str, as_json: bool) -> None:
    if as_json:
        echo_json({"execution": name, "execution_arn": arn})
    else:
        click.echo(f"started {name}; follow it with: p300 executions show {name} --wait")
