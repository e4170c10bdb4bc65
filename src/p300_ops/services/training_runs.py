"""Trainings on the ``p300-train`` state machine: its input from System A's arguments (or a
tuning search), and starting one and waiting for its result."""

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from p300.studies import SYSTEM_A_NAME
from p300_aws.keys import check_study
from p300_aws.names import TRAIN_STATE_MACHINE
from p300_ops.services import pipeline_executions
from p300_ops.services.errors import ServiceError
from p300_ops.services.execution_history import readable_cause
from p300_ops.services.labels import label_list

DEFAULT_PERCENTAGE = 50.0


def train_request(
    *,
    percentage: float | None = None,
    subjects: str | None = None,
    auto_set_challenger_alias: bool = False,
    model: str = "lda",
    model_params: Mapping[str, object] | None = None,
    seed: int = 42,
    study: str = SYSTEM_A_NAME,
) -> dict:
    """The ``p300-train`` input: train on ``percentage`` % of the subjects (default 50) or on the
    comma-separated ``subjects`` of ``study``.

    Raises
    ------
    ValueError
        When both ``percentage`` and ``subjects`` are given, or a subject id or the study name
        is malformed.
    """
    if percentage is not None and subjects is not None:
        raise ValueError(
            "give --training-subjects-percentage or --subjects, not both, got "
            f"{percentage!r} and {subjects!r}"
        )
    chosen = None if subjects is None else label_list(subjects, name="--subjects")
    return {
        "training_subjects_percentage": None if chosen else (percentage or DEFAULT_PERCENTAGE),
        "subjects": chosen,
        "auto_set_challenger_alias": auto_set_challenger_alias,
        "model_name": model,
        "model_params": dict(model_params or {}),
        "seed": seed,
        "study": check_study(study, name="--study"),
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


@dataclass(frozen=True)
class Training:
    """A started training: its execution's name and ARN, and its output once it succeeded."""

    name: str
    arn: str
    output: dict | None = None


def run_training(sfn, request: Mapping, *, wait: bool = True, timeout: float = 1800.0) -> Training:
    """Start ``p300-train`` with ``request``; with ``wait``, its output once it has finished.

    Raises
    ------
    ServiceError
        When the training did not succeed (its error, and where to read the details).
    """
    name = f"train-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
    arn = pipeline_executions.start_execution(
        sfn, TRAIN_STATE_MACHINE, name=name, request=dict(request)
    )
    if not wait:
        return Training(name, arn)
    described = pipeline_executions.wait_for(sfn, arn, timeout=timeout)
    if described["status"] != "SUCCEEDED":
        raise ServiceError(
            f"training {described['status']}: {described.get('error', '')}: "
            f"{readable_cause(described.get('cause'))} (details: p300 executions show {name})"
        )
    return Training(name, arn, described["output"])
