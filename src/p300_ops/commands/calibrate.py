"""`p300 calibrate`: one subject's own model, through the train state machine
(`p300_ops.services.calibration_runs`)."""

from collections.abc import Mapping

import click
from rich.console import Console
from rich.table import Table

from p300_ops.commands.common import aws_errors, echo_json, home_option, json_option, usage_errors
from p300_ops.services import cloud
from p300_ops.services.calibration_runs import MODEL_CHOICES, calibrate_request, run_calibration


def calibration_table(output: Mapping) -> Table:
    """The calibration: model version and alias, the choice and why, the evaluation."""
    evaluation = output["evaluation"]
    table = Table("", "", show_header=False, title=f"Calibration of subject {output['subject']} "
                  f"of study {output['study']}")  # fmt: skip
    table.add_row("MLflow run", output["run_id"])
    table.add_row("model", f"{output['model_name']} version {output['model_version']}")
    table.add_row("alias", output.get("alias") or "-")
    table.add_row("chosen", output["reason"])
    table.add_row("epochs", f"{output['n_epochs']} ({output['n_target']} targets), sessions "
                  f"{', '.join(output['sessions'])}")  # fmt: skip
    table.add_row("evaluation", f"{evaluation['scheme']}: {evaluation['description']}")
    folds = " ".join(f"{auc:.3f}" for auc in evaluation["fold_roc_auc"])
    table.add_row("ROC-AUC", f"{evaluation['roc_auc']:.3f} (folds: {folds})")
    accuracy = evaluation.get("item_accuracy")
    if accuracy:
        steps = " ".join(f"{a:.0%}" for a in accuracy["accuracy"])
        table.add_row("characters right, r = 1, 2, …", steps)
    itr = evaluation.get("itr_bits_per_minute")
    if itr:
        table.add_row("ITR bits/min, r = 1, 2, …", " ".join(f"{bits:.1f}" for bits in itr))
    return table


@click.command()
@click.option("--study", required=True, help="The study whose features are read.")
@click.option("--subject", required=True, help="The subject to calibrate.")
@click.option("--sessions", help="Sessions to calibrate on, e.g. 01,02 (default: all); with "
              "more than one, the last one evaluates.")  # fmt: skip
@click.option("--characters", help="Only the flashes of these characters of each session, e.g. "
              "1-3 (counted from 1).")  # fmt: skip
@click.option("--model", type=click.Choice(MODEL_CHOICES), default="auto", show_default=True,
              help="'auto' chooses by inner cross-validation.")  # fmt: skip
@click.option("--auto-set-alias", is_flag=True, help="Make the new version challenger, or "
              "champion when the subject has none yet.")  # fmt: skip
@click.option("--folds", "n_folds", type=click.IntRange(min=2), default=5, show_default=True,
              help="Folds of the within-session evaluation.")  # fmt: skip
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--timeout", type=float, default=1800.0, show_default=True,
              help="Seconds to wait at most.")  # fmt: skip
@json_option
@home_option
def calibrate(study, subject, sessions, characters, model, auto_set_alias, n_folds, seed,
              timeout, as_json, home) -> None:  # fmt: skip
    """Calibrate one subject's own model on its features, log it to MLflow and register it
    as P300-<study>_<subject>.

    The model is chosen by inner cross-validation (with --model auto) and evaluated on the
    last session when several are given, else by stratified k-fold within the session.

    \b
    Example:
      p300 calibrate --study speller --subject S01 --characters 1-3 --auto-set-alias
    """
    with usage_errors():
        request = calibrate_request(
            study=study, subject=subject, sessions=sessions, characters=characters, model=model,
            auto_set_alias=auto_set_alias, n_folds=n_folds, seed=seed,
        )  # fmt: skip
    sfn = cloud.connect(home).stepfunctions
    waiting = Console(stderr=True).status(f"calibrating subject {subject} of study {study} ...")
    with aws_errors("calibrating"), waiting:
        output = run_calibration(sfn, request, timeout=timeout)
    if as_json:
        echo_json(output)
    else:
        Console().print(calibration_table(output))
