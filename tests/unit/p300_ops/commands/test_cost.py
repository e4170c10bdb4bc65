"""`p300 cost`: options reach the workload, the report renders as tables or JSON; the
measurement itself is `tests/integration/cli/test_cost_e2e.py`, the arithmetic
`tests/unit/p300_ops/services/test_cost_model.py`."""

import json

import pytest
from click.testing import CliRunner

from p300_ops.cli import main
from p300_ops.services import cost as cost_service
from p300_ops.services.cost_model import project
from tests.unit.p300_ops.services.test_cost_model import usage  # noqa: F401 (fixture)


@pytest.fixture
def measured(monkeypatch, usage):  # noqa: F811
    """The run of the hand-worked example instead of a running cloud's."""
    workloads = []

    def cost_report(home, workload):
        workloads.append(workload)
        return project(usage, workload)

    monkeypatch.setattr(cost_service, "cost_report", cost_report)
    monkeypatch.setattr("p300_ops.commands.cost.cost_report", cost_report)
    return workloads


def test_json_has_unit_costs_targets_month_and_recommendations(measured):
    args = ["cost", "--subjects-per-month", "100", "--trainings-per-month", "0", "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert measured[0].subjects_per_month == 100 and measured[0].predictions_per_month == 1_000_000
    assert report["prices"] == {"date": "2026-12-07", "region": "us-east-1"}
    assert report["unit_costs"]["subject"]["total_usd"] == pytest.approx(0.000891294991875)
    assert report["per_million_predictions"]["http_api_usd"] == pytest.approx(2.033335)
    assert report["targets"]["per_subject"]["met"] is True
    assert report["monthly_total_usd"] == pytest.approx(sum(report["monthly_usd"].values()))
    assert {r["change"].split(" (")[0] for r in report["recommendations"]} >= {
        "HTTP APIs instead of REST APIs",
        "every function on arm64",
    }


def test_the_tables_name_the_units_the_month_and_the_targets(measured):
    result = CliRunner().invoke(main, ["cost", "--subjects-per-month", "100"])
    assert result.exit_code == 0, result.output
    for text in ("Cost per unit on AWS (us-east-1 prices of 2026-12-07)", "subject", "prediction",
                 "per million predictions: $4.53 behind the REST API, $2.03 behind an HTTP API",
                 "target per_subject: $0.000891 ≤ $0.00100: met", "A month of 100 subjects",
                 "What would lower the bill"):  # fmt: skip
        assert text in result.output


@pytest.mark.parametrize("option", ["--subjects-per-month", "--predictions-per-month"])
def test_a_negative_workload_is_refused_naming_the_option(option):
    result = CliRunner().invoke(main, ["cost", option, "-1"])
    assert result.exit_code == 2
    assert option in result.output and "-1" in result.output


def test_without_a_cloud_it_says_how_to_start_one(tmp_path):
    result = CliRunner().invoke(main, ["cost", "--home", str(tmp_path)])
    assert result.exit_code == 1
    assert "the local cloud is not running: run `p300 up`" in result.output
