"""`p300 demo` end to end: its own cloud, ten short subjects, the nine steps, the summary."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from p300_ops.cli import main
from p300_ops.localcloud import lifecycle

pytestmark = [pytest.mark.cloud, pytest.mark.slow]


@pytest.mark.timeout(900)
def test_demo_runs_the_nine_steps_and_tears_down(tmp_path):
    home = tmp_path / "demo"
    result = CliRunner().invoke(main, ["demo", "--home", str(home), "--duration", "120"])
    report = json.loads((home / "demo-report.json").read_text())
    steps = {row["step"]: row for row in report["summary"]}
    failed = {n: row["error"] for n, row in steps.items() if row["status"] != "ok"}
    assert failed == {}, result.output
    assert result.exit_code == 0
    assert report["succeeded"] is True
    assert sorted(steps) == list(range(1, 10))
    # Two pipeline runs of five subjects each.
    runs = report["steps"][1]["details"]["runs"]
    assert [run["subjects"] for run in runs] == [
        ["01", "02", "03", "04", "05"], ["06", "07", "08", "09", "10"]
    ]  # fmt: skip
    # Versions: 1 trained on 01–05, 2 on 01–08; evaluations never see training subjects.
    v1, v2 = steps[3]["model_version"], steps[7]["model_version"]
    assert int(v2) == int(v1) + 1
    assert report["steps"][2]["details"]["training_subjects"] == ["01", "02", "03", "04", "05"]
    assert report["steps"][6]["details"]["training_subjects"] == [f"0{i}" for i in range(1, 9)]
    assert [steps[n]["model_version"] for n in (4, 5, 6, 8)] == [v1, v1, v1, v2]
    assert [steps[n]["alias"] for n in (4, 6, 8)] == ["challenger", "champion", "challenger"]
    for n in (4, 6, 8):
        assert steps[n]["roc_auc"] > 0.6, steps[n]
        assert steps[n]["latency_p95_ms"] > 0
        details = report["steps"][n - 1]["details"]
        assert json.loads(Path(details["report"]).read_text())["version_matches"] is True
        assert list((home / "wandb" / "wandb").glob("offline-run-*"))
    assert "| 9 | tear the local cloud down | ok |" in (home / "demo-report.md").read_text()
    assert lifecycle.CloudState.load(home) is None  # torn down
