"""The demo's pure parts: subject choice, ingest batches, the summary and the saved report."""

import json

import pytest

from p300_ops.services import system_a_demo as demo
from p300_ops.services.system_a_demo import DemoConfig, StepResult


def test_subject_ids_are_zero_padded_in_order():
    assert demo.subject_ids(10) == ["01", "02", "03", "04", "05", "06", "07", "08", "09", "10"]


@pytest.mark.parametrize(
    ("share", "expected"),
    [(0.5, ["01", "02", "03", "04", "05"]), (0.75, [f"0{i}" for i in range(1, 9)]),
     (0.01, ["01"]), (0.99, [f"0{i}" for i in range(1, 10)])],
)  # fmt: skip
def test_first_share_takes_the_first_subjects(share, expected):
    assert demo.first_share(demo.subject_ids(10), share) == expected


@pytest.mark.parametrize("share", [0, 1, 1.5])
def test_first_share_refuses_shares_outside_0_1(share):
    with pytest.raises(ValueError, match=rf"share must be in \(0, 1\), got {share}"):
        demo.first_share(demo.subject_ids(10), share)


def test_ingest_batches_are_two_runs_of_five():
    batches = demo.ingest_batches(demo.subject_ids(10))
    assert batches == [["01", "02", "03", "04", "05"], ["06", "07", "08", "09", "10"]]


def test_config_needs_subjects_09_and_10(tmp_path):
    with pytest.raises(ValueError, match=r"n_subjects must be at least 10.* got 8"):
        DemoConfig(home=tmp_path, n_subjects=8)


def _steps() -> list[StepResult]:
    evaluation = {"alias": "challenger", "model_version": "1",
                  "metrics": {"accuracy": 0.8, "kappa": 0.45, "roc_auc": 0.9},
                  "latency_ms": {"p50": 40.0, "p95": 80.0}}  # fmt: skip
    return [
        StepResult(1, "start the local cloud", "ok", 30.0, {"endpoint": "http://x"}),
        StepResult(4, "evaluate challenger on 06, 07", "ok", 5.0, evaluation),
        StepResult(5, "promote version 1 to champion", "failed", 0.1, {}, "KeyError: 'v1'"),
        StepResult(6, "evaluate champion on 09, 10"),
        StepResult(9, "tear the local cloud down", "ok", 2.0, {"stopped": ["mlflow"]}),
    ]


def test_step_rows_pick_versions_metrics_and_latencies():
    rows = {row["step"]: row for row in demo.step_rows(_steps())}
    assert rows[4]["model_version"] == "1"
    assert (rows[4]["accuracy"], rows[4]["kappa"], rows[4]["roc_auc"]) == (0.8, 0.45, 0.9)
    assert (rows[4]["latency_p50_ms"], rows[4]["latency_p95_ms"]) == (40.0, 80.0)
    assert rows[5]["error"] == "KeyError: 'v1'"
    assert rows[6]["status"] == "skipped" and rows[6]["duration_s"] is None


def test_markdown_summary_has_one_line_per_step_and_the_errors():
    text = demo.markdown_summary(demo.step_rows(_steps()))
    lines = text.splitlines()
    assert lines[0].startswith("| step | name | status |")
    assert "| 4 | evaluate challenger on 06, 07 | ok | 5.000 | 1 | challenger | 0.800 |" in text
    assert "| 6 | evaluate champion on 09, 10 | skipped | - |" in text
    assert lines[-1] == "- step 5: KeyError: 'v1'"


def test_save_report_writes_json_and_markdown(tmp_path):
    config = DemoConfig(home=tmp_path / "home", duration_s=120)
    json_path, md_path = demo.save_report(config, _steps())
    document = json.loads(json_path.read_text())
    assert document["succeeded"] is False
    assert document["config"]["home"] == str(tmp_path / "home")
    assert document["config"]["duration_s"] == 120
    assert [row["step"] for row in document["summary"]] == [1, 4, 5, 6, 9]
    assert document["steps"][1]["details"]["metrics"]["roc_auc"] == 0.9
    assert md_path.read_text().startswith("# P300 demo\n\n| step |")


def test_a_failed_step_skips_the_rest_but_not_the_teardown(tmp_path):
    # `up` fails at once (the home is a file), so nothing is started and nothing is left to stop.
    home = tmp_path / "not-a-directory"
    home.write_text("")
    messages = []
    steps = demo.Demo(DemoConfig(home=home), progress=messages.append).run()
    assert [s.status for s in steps] == ["failed"] + ["skipped"] * 7 + ["ok"]
    assert steps[0].error.startswith("FileExistsError")
    assert steps[8].details == {"stopped": []}
    assert messages[-1].startswith("[9/9] ok in")
