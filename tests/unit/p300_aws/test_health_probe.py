"""The health probe's pure pieces: classification, transitions, alerts and metrics; and
`http_get` against a real HTTP server on 127.0.0.1."""

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from p300_aws.health_probe import (
    FAILING,
    NOT_DEPLOYED,
    OK,
    AliasHealth,
    HttpAnswer,
    classify,
    health_alert,
    http_get,
    latency_data,
    metric_data,
    probe_aliases,
    transitions,
)
from p300_aws.names import HEALTH_LATENCY_METRIC, HEALTH_METRIC

HEALTHY_BODY = json.dumps({"status": "ok", "model": {"name": "P300-Classifier", "version": "3"}})
NO_MODEL_BODY = json.dumps({"status": "unavailable", "detail": "no model bundle was loaded"})
RAISED_AT = "2026-11-22T19:30:00.000000+00:00"


def answer(status_code: int | None, body: str = "", *, error: str | None = None) -> HttpAnswer:
    return HttpAnswer(status_code, body, latency_ms=12.34, error=error)


def health(alias: str, state: str, detail: str = "detail") -> AliasHealth:
    return AliasHealth(
        alias, f"predict-{alias}", f"http://api/predict-{alias}/health", state, detail
    )


@pytest.mark.parametrize(
    ("probe_answer", "state", "detail_part", "version"),
    [
        (None, NOT_DEPLOYED, "no model deployed", None),
        (answer(200, HEALTHY_BODY), OK, "healthy", "3"),
        (answer(503, NO_MODEL_BODY), FAILING, "serves no model: no model bundle", None),
        (answer(502, '{"message": "Internal server error"}'), FAILING, "HTTP 502", None),
        (answer(503, "Service Unavailable"), FAILING, "HTTP 503: Service Unavailable", None),
        (answer(200, "not json"), FAILING, "HTTP 200: not json", None),
        (answer(404, '{"detail": "Not Found"}'), FAILING, "HTTP 404", None),
        (answer(None, error="TimeoutError: timed out"), FAILING, "TimeoutError", None),
    ],
)
def test_answers_are_classified(probe_answer, state, detail_part, version):
    classified_state, detail, model_version = classify(probe_answer)
    assert (classified_state, model_version) == (state, version)
    assert detail_part in detail


def test_only_deployed_aliases_are_requested():
    requested = []

    def get(url: str) -> HttpAnswer:
        requested.append(url)
        return answer(200, HEALTHY_BODY)

    results = probe_aliases("http://api/prod", {"champion"}, get=get)
    assert requested == ["http://api/prod/predict-champion/health"]
    by_alias = {result.alias: result for result in results}
    assert by_alias["champion"].state == OK
    assert by_alias["champion"].latency_ms == 12.3
    assert by_alias["challenger"].state == NOT_DEPLOYED
    assert by_alias["challenger"].status_code is None


@pytest.mark.parametrize(
    ("previous", "current", "expected"),
    [
        ({}, [health("champion", FAILING)], [("champion", "failing")]),
        ({"champion": OK}, [health("champion", FAILING)], [("champion", "failing")]),
        ({"champion": NOT_DEPLOYED}, [health("champion", FAILING)], [("champion", "failing")]),
        ({"champion": FAILING}, [health("champion", FAILING)], []),
        ({"champion": FAILING}, [health("champion", OK)], [("champion", "recovered")]),
        ({"champion": FAILING}, [health("champion", NOT_DEPLOYED)], [("champion", "recovered")]),
        ({}, [health("champion", NOT_DEPLOYED), health("challenger", OK)], []),
        ({"champion": OK}, [health("champion", OK)], []),
    ],
)
def test_alerts_are_raised_on_transitions_only(previous, current, expected):
    assert transitions(previous, current) == expected


def test_an_ongoing_failure_is_alerted_once_over_successive_probes():
    states, alerted = {}, []
    for state in (OK, FAILING, FAILING, FAILING, OK, OK):
        current = [health("champion", state)]
        alerted += [change for _, change in transitions(states, current)]
        states = {item.alias: item.state for item in current}
    assert alerted == ["failing", "recovered"]


def test_a_failing_alert_names_the_alias_and_carries_the_probe_as_evidence():
    failing = AliasHealth(
        "champion", "predict-champion", "http://api/predict-champion/health", FAILING,
        "HTTP 502: {\"message\": \"Internal server error\"}", status_code=502, latency_ms=8.0,
    )  # fmt: skip
    alert = health_alert(failing, "failing", raised_at=RAISED_AT)
    assert alert.kind == "health"
    assert alert.subject.startswith("champion failing: HTTP 502")
    assert "p300 rollback" in alert.message
    assert alert.evidence["status_code"] == 502
    assert alert.evidence["change"] == "failing"
    assert alert.raised_at == RAISED_AT


def test_a_recovery_alert_says_so():
    alert = health_alert(health("challenger", OK, "healthy"), "recovered", raised_at=RAISED_AT)
    assert alert.subject == "challenger recovered (ok)"
    assert alert.evidence["state"] == OK


def test_an_unknown_change_is_refused():
    with pytest.raises(ValueError, match="change must be 'failing' or 'recovered', got 'x'"):
        health_alert(health("champion", OK), "x", raised_at=RAISED_AT)


def test_metrics_count_failing_aliases_in_total_and_per_alias():
    results = [health("champion", FAILING), health("challenger", NOT_DEPLOYED)]
    total, *per_alias = metric_data(results)
    assert total == {"MetricName": HEALTH_METRIC, "Value": 1.0, "Unit": "Count"}
    values = {datum["Dimensions"][0]["Value"]: datum["Value"] for datum in per_alias}
    assert values == {"champion": 1.0, "challenger": 0.0}
    assert all(datum["MetricName"] == HEALTH_METRIC for datum in per_alias)


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/slow":
            time.sleep(1.0)
        status, body = {"/ok": (200, HEALTHY_BODY), "/no-model": (503, NO_MODEL_BODY)}.get(
            self.path, (502, '{"message": "Internal server error"}')
        )
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client of the timeout test has given up

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize(
    ("path", "state", "status_code"),
    [("/ok", OK, 200), ("/no-model", FAILING, 503), ("/broken", FAILING, 502)],
)
def test_http_answers_of_a_real_server_are_classified(server, path, state, status_code):
    got = http_get(server + path, timeout_s=5)
    assert got.status_code == status_code
    assert got.latency_ms > 0
    assert classify(got)[0] == state


def test_a_timeout_is_a_failure_without_a_status(server):
    got = http_get(server + "/slow", timeout_s=0.2)
    assert (got.status_code, classify(got)[0]) == (None, FAILING)
    assert "timed out" in got.error


def test_a_refused_connection_is_a_failure_without_a_status():
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    got = http_get(f"http://127.0.0.1:{port}/health", timeout_s=2)
    assert got.status_code is None
    assert "refused" in got.error.lower()


def test_latency_data_has_one_datum_per_alias_that_answered():
    results = [
        AliasHealth("champion", "predict-champion", "u", "ok", "", 200, 12.3, "3"),
        health("challenger", NOT_DEPLOYED),
    ]
    assert latency_data(results) == [
        {
            "MetricName": HEALTH_LATENCY_METRIC,
            "Dimensions": [{"Name": "Alias", "Value": "champion"}],
            "Value": 12.3,
            "Unit": "Milliseconds",
        }
    ]
