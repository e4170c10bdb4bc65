"""The console's pages without a cloud: a stopped cloud and unknown pages are pages that say so."""

import pytest
from starlette.testclient import TestClient

from p300_ops.console.app import create_app


@pytest.fixture
def client(tmp_path):
    return TestClient(create_app(tmp_path / "no-cloud-here"))


@pytest.mark.parametrize(
    "path", ["/executions", "/executions/x", "/subjects", "/models", "/traffic", "/alerts"]
)
def test_a_stopped_cloud_says_so_and_how_to_start_it(client, tmp_path, path):
    answer = client.get(path)
    assert answer.status_code == 503
    assert "The local cloud is not running" in answer.text
    assert f"p300 up --home {tmp_path / 'no-cloud-here'}" in answer.text


def test_an_unknown_page_is_a_404_naming_it(client):
    answer = client.get("/nowhere")
    assert answer.status_code == 404
    assert "no page at /nowhere" in answer.text


def test_assets_are_served_by_the_console_itself(client):
    page = client.get("/executions").text
    assert 'href="/static/console.css"' in page and 'src="/static/console.js"' in page
    assert "http://" not in page and "https://" not in page  # nothing leaves 127.0.0.1
    for asset in ("/static/console.css", "/static/console.js", "/static/favicon.svg"):
        answer = client.get(asset)
        assert answer.status_code == 200 and "http" not in answer.text.replace(
            "http://www.w3.org", ""
        )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("status=DONE", "status must be one of [&#39;RUNNING&#39;"),
        (
            "state_machine=deploy",
            "state_machine must be one of [&#39;ingest&#39;, &#39;train&#39;, &#39;backfill&#39;]",
        ),
        ("page=0", "page must be a whole number from 1, got &#39;0&#39;"),
    ],
)
def test_bad_filters_are_a_400_naming_the_parameter(tmp_path, query, message):
    from p300_ops.localcloud import lifecycle

    # A cloud that "runs": the filters are checked before anything is asked of it.
    state = lifecycle.CloudState(str(tmp_path), "sqlite", {})
    client = TestClient(create_app(tmp_path))
    client.app.state.cloud = lambda: state
    answer = client.get(f"/executions?{query}")
    assert answer.status_code == 400
    assert message in answer.text
