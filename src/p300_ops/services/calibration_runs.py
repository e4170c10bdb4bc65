"""Calibrations on the ``p300-train`` state machine: the event of `p300 calibrate` and running
it (`p300_aws.calibration_job` says what the train function does with it)."""

import re
import secrets
from datetime import UTC, datetime

from p300_aws import keys
from p300_aws.names import TRAIN_STATE_MACHINE
from p300_ops.services import pipeline_executions
from p300_ops.services.errors import ServiceError
from p300_ops.services.execution_history import readable_cause
from p300_ops.services.labels import label_list

#: ``--model`` values: let calibration choose, or one model.
MODEL_CHOICES = ("auto", "lda", "xdawn-riemann", "xdawn-mdm")
_CHARACTERS = re.compile(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?")


class CalibrationFailed(ServiceError):
    """The calibration execution did not succeed; the message holds its error and cause."""


def parse_characters(text: str) -> list[int]:
    """``"1-3"`` → ``[1, 3]``, ``"4"`` → ``[4, 4]`` (characters from 1, first <= last)."""
    match = _CHARACTERS.fullmatch(text)
    first = int(match.group(1)) if match else 0
    last = int(match.group(2) or first) if match else 0
    if not match or not 1 <= first <= last:
        raise ValueError(
            f"--characters must be FIRST-LAST or N, characters counted from 1 with FIRST <= "
            f"LAST, e.g. 1-3; got {text!r}"
        )
    return [first, last]


def calibrate_request(
    *,
    study: str,
    subject: str,
    sessions: str | None = None,
    characters: str | None = None,
    model: str = "auto",
    auto_set_alias: bool = False,
    n_folds: int = 5,
    seed: int = 0,
) -> dict:
    """The ``p300-train`` input of one subject's calibration.

    Raises
    ------
    ValueError
        Naming the option, for a bad study, subject, session list or character range.
    """
    if model not in MODEL_CHOICES:
        raise ValueError(f"--model must be one of {MODEL_CHOICES}, got {model!r}")
    return {
        "action": "calibrate",
        "study": keys.check_study(study, name="--study"),
        "subject": keys.check_id(subject, name="--subject"),
        "sessions": None if sessions is None else label_list(sessions, name="--sessions"),
        "characters": None if characters is None else parse_characters(characters),
        "model": model,
        "auto_set_alias": auto_set_alias,
        "n_folds": n_folds,
        "seed": seed,
    }


def run_calibration(sfn, request: dict, *, timeout: float = 1800.0) -> dict:
    """Start the calibration and return its output once it has finished.

    Raises
    ------
    CalibrationFailed
        When it did not succeed: its error (e.g. ``CalibrationError: ONE_CLASS: ...``) and where
        to read the details.
    """
    name = f"calibrate-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
    arn = pipeline_executions.start_execution(sfn, TRAIN_STATE_MACHINE, name=name, request=request)
    described = pipeline_executions.wait_for(sfn, arn, timeout=timeout)
    if described["status"] != "SUCCEEDED":
        raise CalibrationFailed(
            f"calibration of subject {request['subject']} of study {request['study']} "
            f"{described['status']}: {described.get('error', '')}: "
            f"{readable_cause(described.get('cause'))} (details: p300 executions show {name})"
        )
    return described["output"]
