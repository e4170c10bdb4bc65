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


def parse_grid(text: str) -> dict[str, list]:
    """``"shrinkage=auto,0.1;window=0:0.6,all"`` → ``{"shrinkage": ["auto", 0.1],
    "window": [[0.0, 0.6], None]}``: ``;`` separates names, ``,`` values; a window is
    ``START:STOP`` in s or ``all``; other values are read as JSON when they are JSON, else text.
    """
    grid: dict[str, list] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, sep, values = part.partition("=")
        name = name.strip()
        if not sep or not name or not values.strip():
            raise ValueError(f"--grid entries must be NAME=VALUE,VALUE…, got {part!r}")
        if name in grid:
            raise ValueError(f"--grid names {name!r} twice")
        parse = _window if name == "window" else _json_or_text
        grid[name] = [parse(v.strip()) for v in values.split(",")]
    if not grid:
        raise ValueError(f"--grid must name at least one parameter, got {text!r}")
    return grid


def _window(text: str) -> list[float] | None:
    if text == "all":
        return None
    start, sep, stop = text.partition(":")
    try:
        return [float(start), float(stop)] if sep else _bad_window(text)
    except ValueError:
        return _bad_window(text)


def _bad_window(text: str):
    raise ValueError(f"--grid window values must be START:STOP in s or 'all', got {text!r}")


def _json_or_text(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return text


def tuning_fields(
    *, trials: int | None = None, grid: str | None = None, max_concurrency: int = 2
) -> dict:
    """The keys that turn a ``p300-train`` input into a tuning: ``search`` (the ``--grid``, or the
    default grid when None; at most ``trials`` of its parameter sets) and ``max_concurrency``."""
    return {
        "search": {"grid": None if grid is None else parse_grid(grid), "max_trials": trials},
        "max_concurrency": max_concurrency,
    }


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
def train(percentage, subjects, auto_set_challenger_alias, model, params, seed, dataset, tune,
          trials, grid, max_concurrency, wait, timeout, as_json, home) -> None:  # fmt: skip
    """Train a model on the processed subjects and register it in MLflow.

    \b
    Example:
      p300 train --training-subjects-percentage 50 --auto-set-challenger-alias
      p300 train --dataset 3f2a9c   # again on that dataset version, same split
      p300 train --grid "shrinkage=auto,0.1;window=0:0.6,0.2:0.5" --auto-set-challenger-alias
    """
    try:
        request = train_request(
            percentage=percentage, subjects=subjects, model=model, seed=seed,
            auto_set_challenger_alias=auto_set_challenger_alias, model_params=parse_params(params),
        )  # fmt: skip
        if tune or trials or grid:
            if params or model != "lda":
                raise ValueError(
                    "with --tune give models and parameters in --grid, not --model/--param"
                )
            request |= tuning_fields(trials=trials, grid=grid, max_concurrency=max_concurrency)
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
    elif "trials" in described["output"]:
        Console().print(tuning_table(described["output"]))
    else:
        Console().print(result_table(described["output"]))


def _started(name: str, arn: str, as_json: bool) -> None:
    if as_json:
        echo_json({"execution": name, "execution_arn": arn})
    else:
        click.echo(f"started {name}; follow it with: p300 executions show {name} --wait")
