"""`p300 cost --json` against the session's cloud once it has processed subjects and trained:
every figure is measured (REPORT lines, transitions, S3 requests), positive, and adds up."""

import json

import pytest
from click.testing import CliRunner

from p300_aws.names import (
    INGEST_STATE_MACHINE,
    PREPROCESS_FUNCTION,
    TRAIN_FUNCTION,
    TRAIN_STATE_MACHINE,
)
from p300_ops.cli import main
from p300_ops.services.cost_prices import PRICES
from tests.integration.cli.test_cli_pipeline import wait_for_stage

pytestmark = [pytest.mark.cloud, pytest.mark.slow, pytest.mark.timeout(900)]

SUBJECTS = ("91", "92", "93")
SUBJECTS_PER_MONTH = 100


def run(cloud, *args: str) -> str:
    result = CliRunner().invoke(main, [*args, "--home", cloud.home])
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def report(cloud) -> dict:
    """3 short subjects processed, a training on two of them, then `p300 cost --json`."""
    run(cloud, "generate", "--subjects", "3", "--start", SUBJECTS[0], "--duration", "120", "--json")
    for subject in SUBJECTS:
        assert wait_for_stage(cloud, subject, {"processed", "quarantined"})["stage"] == "processed"
    run(cloud, "train", "--subjects", ",".join(SUBJECTS[:2]), "--json")
    args = ["cost", "--json", "--subjects-per-month", str(SUBJECTS_PER_MONTH)]
    return json.loads(run(cloud, *args))


def test_the_run_is_measured_from_report_lines_and_executions(report):
    measured = report["measured"]
    assert measured["units"]["subject"] >= len(SUBJECTS)
    assert measured["units"]["training"] >= 1
    for function in (PREPROCESS_FUNCTION, TRAIN_FUNCTION):
        used = measured["functions"][function]
        assert used["invocations"] >= 1 and used["gb_s"] > 0
        assert 0 < used["max_memory_used_mb"] <= used["memory_mb"]
        assert used["cold_starts"] >= 1  # a first invocation reports its Init Duration
    assert measured["functions"][PREPROCESS_FUNCTION]["invocations"] >= len(SUBJECTS)
    assert measured["state_machines"][INGEST_STATE_MACHINE]["transitions"] > 0
    assert measured["s3_requests"]["subject"]["tier1"] > 0  # features written, raw copied
    assert measured["stored_bytes"] > 0


@pytest.mark.parametrize("activity", ["subject", "training"])
def test_unit_costs_are_positive_and_the_sum_of_their_services(report, activity):
    cost = report["unit_costs"][activity]
    parts = ("lambda_usd", "step_functions_usd", "api_usd", "s3_usd", "logs_usd")
    assert cost["lambda_usd"] > 0 and cost["step_functions_usd"] > 0 and cost["s3_usd"] > 0
    assert cost["total_usd"] == pytest.approx(sum(cost[p] for p in parts))


@pytest.mark.parametrize("activity", ["subject", "training"])
def test_per_unit_times_units_is_what_the_run_spent(report, activity):
    measured = report["measured"]
    cost = report["unit_costs"][activity]
    units = measured["units"][activity]
    assert cost["measured_units"] == units
    compute = sum(
        f["compute_usd"] for f in measured["functions"].values() if f["activity"] == activity
    )
    assert cost["lambda_usd"] * units == pytest.approx(compute)
    machine = {"subject": INGEST_STATE_MACHINE, "training": TRAIN_STATE_MACHINE}[activity]
    transitions = measured["state_machines"][machine]["transitions"]
    spent = transitions * PRICES.sfn_standard_per_transition
    assert cost["step_functions_usd"] * units == pytest.approx(spent)


def test_the_month_is_the_workload_times_the_unit_costs(report):
    monthly = report["monthly_usd"]
    subject = report["unit_costs"]["subject"]["total_usd"]
    assert report["workload"]["subjects_per_month"] == SUBJECTS_PER_MONTH
    assert monthly[f"subject ×{SUBJECTS_PER_MONTH}"] == pytest.approx(subject * SUBJECTS_PER_MONTH)
    assert report["monthly_total_usd"] == pytest.approx(sum(monthly.values()))
    assert all(usd >= 0 for usd in monthly.values())
    assert report["targets"]["per_subject"]["usd"] == pytest.approx(subject)
    assert report["recommendations"] and all(
        r["saving_usd_month"] >= 0 for r in report["recommendations"]
    )
