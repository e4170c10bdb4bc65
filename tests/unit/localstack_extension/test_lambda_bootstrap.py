"""The environment side of the local Lambda executor: bootstrap.py run as a real process.

A small HTTP server stands in for LocalStack's executor endpoint (it only receives the init
status); the tests speak the executor's side of ``POST /invoke`` over one kept-alive connection.
"""

import http.client
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from p300_ops.localcloud.localstack import COVERAGE_ENV

BOOTSTRAP = (
    Path(__file__).parents[3] / "localstack-extension/p300_localstack/lambda_runtime/bootstrap.py"
)
HANDLERS = """
import os, sys, time

def echo(event, context):
    print("echo", event["value"])
    return {"event": event, "request_id": context.aws_request_id,
            "arn": context.invoked_function_arn, "pid": os.getpid()}

def fail(event, context):
    raise ValueError("bad input")

def sleep(event, context):
    time.sleep(event["seconds"])
    return "slept"

def leave(event, context):
    sys.exit(3)
"""


class StatusRecorder(http.server.BaseHTTPRequestHandler):
    posted: list

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.posted.append((self.path, json.loads(body)))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def environment(tmp_path):
    """Start bootstrap.py for handler `name`; returns (process, connection, init statuses)."""
    (tmp_path / "handlers.py").write_text(HANDLERS)
    StatusRecorder.posted = posted = []
    server = http.server.HTTPServer(("127.0.0.1", 0), StatusRecorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    started = []

    def start(name: str, *, timeout_s: int = 3):
        port = free_port()
        env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(tmp_path),
            "_HANDLER": f"handlers.{name}",
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(timeout_s),
            "LOCALSTACK_RUNTIME_ENDPOINT": f"http://127.0.0.1:{server.server_port}/runtime",
            "LOCALSTACK_RUNTIME_ID": "env-1",
            "P300_INVOKE_PORT": str(port),
            "P300_PARENT_PID": str(os.getpid()),
            # A run measuring coverage measures the environment too (it saves on its way out).
            **{name: os.environ[name] for name in COVERAGE_ENV if name in os.environ},
        }
        process = subprocess.Popen([sys.executable, str(BOOTSTRAP)], env=env, cwd=tmp_path,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)  # fmt: skip
        started.append(process)
        deadline = time.monotonic() + 20
        while not posted and time.monotonic() < deadline:
            time.sleep(0.02)
        return process, http.client.HTTPConnection("127.0.0.1", port, timeout=20), posted

    yield start
    for process in started:
        process.terminate()  # its SIGTERM handler ends it through os._exit, as LocalStack does
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    server.shutdown()


def invoke(conn: http.client.HTTPConnection, event: dict, request_id: str = "req-1"):
    """POST /invoke as the executor does: (kind, logs, result body, connection header)."""
    headers = {"X-Invoke-Id": request_id, "X-Invoked-Function-Arn": "arn:fn:alias",
               "X-Trace-Id": "trace"}  # fmt: skip
    conn.request("POST", "/invoke", json.dumps(event).encode(), headers)
    response = conn.getresponse()
    answer = response.read()
    n_logs = int(response.headers["X-Logs-Bytes"])
    return (response.headers["X-Result-Kind"], answer[:n_logs].decode(), answer[n_logs:],
            response.headers.get("Connection"))  # fmt: skip


def test_ready_then_invocations_answered_on_one_connection(environment):
    process, conn, posted = environment("echo")

    first = invoke(conn, {"value": "é1"}, "req-1")
    second = invoke(conn, {"value": 2}, "req-2")

    assert posted == [("/runtime/status/env-1/ready", {})]
    kind, logs, body, connection = first
    assert kind == "response" and connection is None
    assert json.loads(body) == {"event": {"value": "é1"}, "request_id": "req-1",
                                "arn": "arn:fn:alias", "pid": process.pid}  # fmt: skip
    assert logs.startswith("START RequestId: req-1 Version: $LATEST\necho é1\nEND RequestId: req-1")
    assert "REPORT RequestId: req-1\tInit Duration:" in logs
    assert second[0] == "response" and "Init Duration" not in second[1]
    assert json.loads(second[2])["pid"] == process.pid


def test_handler_error_has_the_aws_shape(environment):
    _, conn, _ = environment("fail")

    kind, logs, body, connection = invoke(conn, {})

    error = json.loads(body)
    assert kind == "error" and connection is None
    assert (error["errorType"], error["errorMessage"], error["requestId"]) == (
        "ValueError", "bad input", "req-1")  # fmt: skip
    assert "[ERROR] ValueError: bad input" in logs


@pytest.mark.parametrize(
    ("name", "timeout_s", "error_type", "message", "exit_code"),
    [
        ("sleep", 1, "Sandbox.Timedout", "Task timed out after 1.00 seconds", 0),
        ("leave", 3, "Runtime.ExitError", "Runtime exited with error: exit status 3", 1),
    ],
)
def test_ending_invocations_answer_then_close_and_exit(
    environment, name, timeout_s, error_type, message, exit_code
):
    process, conn, _ = environment(name, timeout_s=timeout_s)

    kind, logs, body, connection = invoke(conn, {"seconds": 3})

    error = json.loads(body)
    assert kind == "error" and connection == "close"
    assert error["errorType"] == error_type and message in error["errorMessage"]
    assert "END RequestId: req-1" in logs
    assert process.wait(timeout=10) == exit_code


def test_an_earlier_executor_gets_200_then_logs_and_result_posted_back(environment):
    _, conn, posted = environment("echo")
    invocation = {"invoke-id": "req-9", "invoked-function-arn": "arn:fn", "trace-id": "t",
                  "payload": json.dumps({"value": 5})}  # fmt: skip

    conn.request("POST", "/invoke", json.dumps(invocation).encode())
    response = conn.getresponse()
    response.read()
    deadline = time.monotonic() + 10
    while len(posted) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)

    assert response.status == 200
    assert [path for path, _ in posted] == ["/runtime/status/env-1/ready",
                                            "/runtime/invocations/req-9/logs",
                                            "/runtime/invocations/req-9/response"]  # fmt: skip
    assert "echo 5" in posted[1][1]["logs"]
    assert posted[2][1]["event"] == {"value": 5} and posted[2][1]["request_id"] == "req-9"
