"""The console in a real headless Chromium, against a real local cloud (the session `cloud`).

The tests of this module run in order and build on each other: one catch-up run with a
quarantined file and a failed subject, trainings by the train state machine, then releases.
"""

import json
import re

import pytest
from click.testing import CliRunner

from p300_ops.cli import main
from tests.integration.console import scenario
from tests.integration.console.conftest import ConsoleServer, dead_mlflow_home

pytestmark = [pytest.mark.cloud, pytest.mark.slow]

#: The stylesheet's colours (console.css), as the browser computes them.
FAILED, CAUGHT, SUCCEEDED = "rgb(207, 34, 46)", "rgb(225, 111, 36)", "rgb(45, 164, 78)"


@pytest.fixture(scope="module")
def pipeline_run(cloud) -> scenario.PipelineRun:
    run = scenario.catch_up_run(cloud)
    yield run
    scenario.forget_failed_subject(cloud, run)


@pytest.fixture(scope="module")
def trained() -> list[dict]:
    """The versions this module's tests trained, oldest first (the models page shows the last
    first): the tests that read it pass in any order."""
    return []


@pytest.fixture(scope="module")
def first_model(cloud, pipeline_run, trained) -> dict:
    """Version trained on two of the run's subjects by the train state machine (challenger)."""
    scenario.forget_failed_subject(cloud, pipeline_run)  # no later catch-up retries it
    trained.append(scenario.train(cloud.home, pipeline_run.valid[:2]))
    return trained[-1]


@pytest.fixture(scope="module")
def failed_training(cloud) -> str:
    """The name of a train execution that failed (an unknown subject), started by the CLI."""
    result = CliRunner().invoke(main, ["train", "--subjects", "98", "--home", cloud.home])
    assert result.exit_code == 1
    return re.search(r"p300 executions show (train-\S+)\)", result.output).group(1)


def node(page, node_id: str):
    return page.locator(f'svg.graph g.state[data-node="{node_id}"]')


def fill(page, node_id: str) -> str:
    return node(page, node_id).locator("rect").evaluate("r => getComputedStyle(r).fill")


def test_the_execution_page_draws_the_run_with_its_failed_subject(console, page, pipeline_run):
    page.goto(f"{console.url}/executions/{pipeline_run.execution}")
    assert page.locator("#execution-status").inner_text() == "SUCCEEDED"
    assert node(page, "Plan").get_attribute("data-status") == "succeeded"
    assert fill(page, "Summarize") == SUCCEEDED
    # Preprocess failed for one item (caught: the item went to ItemFailed), with its error.
    preprocess = "ForEachObject/Preprocess"
    assert node(page, preprocess).get_attribute("data-status") == "caught"
    assert fill(page, preprocess) == CAUGHT
    assert node(page, preprocess).locator("text.err").text_content() == "InvalidRecordingError"
    # The Map's counts: one iteration per item, grouped as the execution's own output groups
    # them (a shared cloud may add pending items of other tests to a catch-up run).
    shown = json.loads(scenario.cli(
        console.home, "executions", "show", pipeline_run.execution, "--json"))  # fmt: skip
    groups = {g: len(entries) for g, entries in shown["summary"].items() if entries}
    assert {e["subject"] for e in shown["summary"]["failed"]} == {pipeline_run.failed}
    assert pipeline_run.quarantined_key in {e["key"] for e in shown["summary"]["quarantined"]}
    assert groups["processed"] >= 3
    n_items = sum(groups.values())
    counts = page.locator('section.map[data-map="ForEachObject"] .counts')
    assert counts.locator('[data-count="succeeded"]').inner_text() == f"{n_items} succeeded"
    outcomes = {o: counts.locator(f'[data-outcome="{o}"]').inner_text()
                for o in ("processed", "quarantined", "failed")}  # fmt: skip
    assert outcomes == {"processed": f"{groups['processed']} processed",
                        "quarantined": f"{groups['quarantined']} quarantined",
                        "failed": "1 failed"}  # fmt: skip
    assert "1 failed" in node(page, "ForEachObject").locator("text.sub").text_content()
    # The failed item's path: its row, then its states in the graph, then Preprocess's error.
    failed_row = page.locator("tr.iteration", has=page.locator(".outcome-failed"))
    assert pipeline_run.failed in failed_row.inner_text()
    assert page.locator("tr.iteration .outcome-failed").evaluate(
        "e => getComputedStyle(e).color") == FAILED  # fmt: skip
    failed_row.click()
    assert node(page, preprocess).get_attribute("data-status") == "caught"
    assert node(page, "ForEachObject/ItemFailed").get_attribute("data-status") == "succeeded"
    assert node(page, "ForEachObject/Ingest").get_attribute("data-status") == "not-run"
    assert "Preprocess" in page.locator("#details").inner_text()
    node(page, preprocess).click()
    error = page.locator("#details .error-box")
    error.wait_for()
    assert error.locator(".error-name").inner_text() == "InvalidRecordingError"
    assert "NOT_PARQUET" in error.locator(".cause").inner_text()
    assert pipeline_run.failed in page.locator("#details pre").first.inner_text()  # its input


def test_a_failed_training_shows_its_fail_state_in_the_failure_colour(
    console, page, failed_training
):
    page.goto(f"{console.url}/executions/{failed_training}")
    assert page.locator("#execution-status").inner_text() == "FAILED"
    assert node(page, "TrainingFailed").get_attribute("data-status") == "failed"
    assert fill(page, "TrainingFailed") == FAILED
    assert node(page, "Train").get_attribute("data-status") == "caught"
    assert "98" in page.locator(".execution-error").inner_text()  # the cause names the subject


def test_the_executions_list_shows_both_machines_with_their_triggers(
    console, page, first_model, failed_training
):
    page.goto(f"{console.url}/executions")
    rows = page.locator("table.executions tbody tr")
    triggers = {r.locator("td").nth(1).inner_text(): r.locator("td").nth(3).inner_text()
                for r in rows.all()}  # fmt: skip
    assert any(name.startswith("catch-up-") and t == "catch-up" for name, t in triggers.items())
    assert any(name.startswith("train-") and t == "CLI" for name, t in triggers.items())
    page.select_option("select[name=state_machine]", "train")
    page.select_option("select[name=status]", "FAILED")
    page.click("form.filters button")
    shown = page.locator("table.executions tbody tr").all()
    assert shown and all("FAILED" in r.inner_text() and "train" in r.inner_text() for r in shown)


def test_the_subjects_page_lists_the_quarantine_reason(console, page, pipeline_run):
    page.goto(f"{console.url}/subjects")
    row = page.locator(f'tr[data-subject="{pipeline_run.quarantined_subject}"]')
    assert row.locator(".col-stage").inner_text() == "quarantined"
    assert "NOT_PARQUET" in row.locator(".col-quarantine").inner_text()
    assert pipeline_run.quarantined_key in row.locator(".col-quarantine").inner_text()
    processed = page.locator(f'tr[data-subject="{pipeline_run.valid[0]}"]')
    assert processed.locator(".col-stage").inner_text() == "processed"
    assert re.match(r"\d+ kept / \d+ rejected", processed.locator(".col-epochs").inner_text())
    processed.locator(".col-subject a").click()
    page.locator("svg.erp").wait_for()
    assert page.locator("svg.erp g.channel").count() == 16
    assert page.locator("svg.erp polyline.target").count() == 16


def test_the_models_page_shows_the_roc_of_the_latest_version(console, page, first_model, trained):
    newest = trained[-1]  # first_model, or a later version another test of the module trained
    page.goto(f"{console.url}/models")
    latest = page.locator("article.model").first
    assert latest.get_attribute("data-version") == newest["model_version"]
    assert "challenger" in latest.locator("header").inner_text()
    roc = latest.locator('img[data-figure="roc.png"]')
    roc.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=roc.element_handle())
    assert roc.evaluate("img => img.naturalWidth") > 100
    assert newest["run_id"] in latest.locator("a.mlflow-link").get_attribute("href")
    assert "roc_auc" in latest.locator("table.metrics").inner_text()


def test_the_models_page_lists_a_calibrated_subjects_own_model(console, page, pipeline_run):
    subject = pipeline_run.valid[0]
    calibrated = json.loads(scenario.cli(
        console.home, "calibrate", "--study", "system-a", "--subject", subject, "--model", "lda",
        "--auto-set-alias", "--json",
    ))  # fmt: skip
    page.goto(f"{console.url}/models")
    row = page.locator(f'tr.subject-model[data-study="system-a"][data-subject="{subject}"]')
    assert f"P300-system-a_{subject}" in row.inner_text()
    assert row.locator("td").nth(3).inner_text() == str(calibrated["model_version"])
    assert row.locator("td").nth(4).inner_text() == "lda"
    assert f"champion → {calibrated['model_version']}" in row.locator(".alias").first.inner_text()


def test_traffic_shows_a_70_30_split_set_by_the_cli(
    cloud, console, page, pipeline_run, first_model, trained
):
    home = cloud.home
    scenario.cli(home, "deploy-model", "--alias", "champion", "--model-version",
                 first_model["model_version"])  # fmt: skip
    second = scenario.train(home, [pipeline_run.valid[0], pipeline_run.valid[2]])
    trained.append(second)
    scenario.cli(home, "deploy-model", "--alias", "challenger")
    split = json.loads(scenario.cli(home, "traffic", "--challenger-share", "30", "--json"))
    assert sorted(v["weight"] for v in split[0]["versions"]) == [0.3, 0.7]
    try:
        check_the_split_page(page, console, second)
    finally:  # later tests of the session get champion whole again
        scenario.cli(home, "traffic", "--challenger-share", "0")


def check_the_split_page(page, console, second: dict) -> None:
    page.goto(f"{console.url}/traffic")
    champion = page.locator('section.alias[data-alias="champion"]')
    shares = {s.get_attribute("data-weight"): s.inner_text()
              for s in champion.locator(".share").all()}  # fmt: skip
    assert sorted(shares) == ["0.3", "0.7"]
    assert shares["0.7"].startswith("70%") and shares["0.3"].startswith("30%")
    assert f"(model {second['model_version']})" in shares["0.3"]
    assert page.locator("table.releases tbody tr").count() >= 2


def test_a_running_execution_turns_succeeded_without_a_reload(cloud, console, page, pipeline_run):
    started = json.loads(scenario.cli(cloud.home, "train", "--subjects", pipeline_run.valid[1],
                                      "--no-wait", "--json"))  # fmt: skip
    page.goto(f"{console.url}/executions/{started['execution']}")
    assert page.locator("#execution-status").inner_text() == "RUNNING"
    page.evaluate("window.loadedOnce = true")
    page.wait_for_function(
        "document.getElementById('execution-status').textContent.trim() === 'SUCCEEDED'",
        timeout=180_000,
    )
    assert page.evaluate("window.loadedOnce") is True  # the same document: no reload
    assert node(page, "Train").get_attribute("data-status") == "succeeded"


def test_unknown_execution_and_subject_are_404_pages_naming_them(console, page):
    answer = page.goto(f"{console.url}/executions/no-such-run")
    assert answer.status == 404
    assert "no-such-run" in page.locator(".error-page").inner_text()
    answer = page.goto(f"{console.url}/subjects/system-a/NOBODY")
    assert answer.status == 404
    assert "NOBODY" in page.locator(".error-page").inner_text()
    answer = page.goto(f"{console.url}/subjects/no-such-study/S01")
    assert answer.status == 404
    assert "no-such-study" in page.locator(".error-page").inner_text()


def test_mlflow_down_is_said_on_the_models_page_and_the_others_work(
    cloud, page, tmp_path, pipeline_run
):
    server = ConsoleServer(dead_mlflow_home(cloud, tmp_path))
    try:
        page.goto(f"{server.url}/models")
        assert "MLflow is not answering" in page.locator(".mlflow-down").inner_text()
        assert page.goto(f"{server.url}/executions").status == 200
        assert page.locator("table.executions tbody tr").count() > 0
    finally:
        server.stop()


def test_a_stopped_cloud_says_how_to_start_it(page, tmp_path):
    server = ConsoleServer(tmp_path / "nothing-here")
    try:
        answer = page.goto(f"{server.url}/executions")
        assert answer.status == 503
        text = page.locator(".error-page").inner_text()
        assert "The local cloud is not running" in text and "p300 up" in text
    finally:
        server.stop()
