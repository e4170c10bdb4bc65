"""The Docker-free Lambda executor, through the public Lambda, S3 and Logs APIs of LocalStack."""

import base64
import json
import math
import os
import re
import signal
import threading
import time
from pathlib import Path

import psutil
import pytest

from p300_ops.localcloud.processes import kill_server, stop_server
from tests.integration.localstack.conftest import (
    FUNCTIONS,
    ROLE_ARN,
    client,
    create_function,
    function_with_two_versions,
    function_zip,
    launch,
    wait_for_state,
    zip_bytes,
)

pytestmark = pytest.mark.cloud


@pytest.fixture(scope="module")
def lambda_client(localstack):
    return client(localstack, "lambda")


@pytest.fixture(scope="module")
def basic(lambda_client):
    """A deployed function per handler of functions/basic/index.py, created on first use."""
    created: set[str] = set()

    def deploy(handler: str, *, name: str = "", **options) -> str:
        name = name or f"basic-{handler.replace('_', '-')}"
        if name not in created:
            create_function(
                lambda_client,
                name,
                code=function_zip("basic"),
                handler=f"index.{handler}",
                **options,
            )
            created.add(name)
        return name

    return deploy


def invoke(lambda_client, name: str, event: dict | None = None, **options) -> tuple[dict, object]:
    """Invoke synchronously: (response, decoded JSON payload)."""
    response = lambda_client.invoke(FunctionName=name, Payload=json.dumps(event or {}), **options)
    return response, json.loads(response["Payload"].read() or b"null")


def tail_logs(response: dict) -> str:
    return base64.b64decode(response["LogResult"]).decode()


def test_sync_invoke_gives_the_handler_its_event_context_and_environment(lambda_client, basic):
    name = basic("context_fields", Environment={"Variables": {"GREETING": "hi"}}, MemorySize=256)

    response, result = invoke(lambda_client, name)

    assert response["StatusCode"] == 200 and "FunctionError" not in response
    assert result["function_name"] == name
    assert result["function_version"] == "$LATEST"
    assert result["invoked_function_arn"].endswith(f":function:{name}")
    assert result["memory_limit_in_mb"] == 256
    assert re.fullmatch(r"[0-9a-f-]{36}", result["aws_request_id"])
    assert result["log_group_name"] == f"/aws/lambda/{name}"
    assert "[$LATEST]" in result["log_stream_name"]
    assert 0 < result["remaining_ms"] <= 3000
    assert (Path(result["task_root"]) / "index.py").is_file()
    assert result["env_value"] == "hi"


def test_handler_error_has_the_aws_shape(lambda_client, basic):
    response, error = invoke(lambda_client, basic("fail"), {"value": 7})

    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "bad input: 7"
    assert any("in fail" in frame for frame in error["stackTrace"])
    assert re.fullmatch(r"[0-9a-f-]{36}", error["requestId"])


@pytest.mark.parametrize(
    ("code", "handler", "error_type", "message"),
    [
        (
            function_zip("import_error"),
            "index.handler",
            "Runtime.ImportModuleError",
            "Unable to import module 'index': No module named 'p300_package_that_does_not_exist'",
        ),
        (
            function_zip("basic"),
            "index.no_such_handler",
            "Runtime.HandlerNotFound",
            "Handler 'no_such_handler' missing on module 'index'",
        ),
        (
            zip_bytes({"index.py": "def handler(event, context:\n    pass\n"}),
            "index.handler",
            "Runtime.UserCodeSyntaxError",
            "Syntax error in module 'index': ",
        ),
        (
            function_zip("init_raises"),
            "index.handler",
            "RuntimeError",
            "cannot start: missing configuration",
        ),
        (function_zip("basic"), "nodots", "Runtime.MalformedHandlerName", "Bad handler 'nodots'"),
    ],
)
def test_init_errors_have_the_aws_shape(lambda_client, code, handler, error_type, message):
    name = f"init-error-{error_type.split('.')[-1].lower()}"
    create_function(lambda_client, name, code=code, handler=handler)

    response, error = invoke(lambda_client, name)

    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == error_type
    assert error["errorMessage"].startswith(message)


#: The sleep a 1 s timeout must cut short: an answer sooner than this is the timeout's.
SLEEP_PAST_TIMEOUT_S = 30


def test_timeout_is_enforced_and_the_next_invoke_reinitialises(lambda_client, basic):
    name = basic("sleep_then_pid", name="basic-timeout", Timeout=1)

    started = time.monotonic()
    response, error = invoke(lambda_client, name, {"seconds": SLEEP_PAST_TIMEOUT_S}, LogType="Tail")
    elapsed = time.monotonic() - started
    after, result = invoke(lambda_client, name, {"seconds": 0}, LogType="Tail")

    assert response["FunctionError"] == "Unhandled"
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT[\d:.]+Z [0-9a-f-]{36} Task timed out after 1\.00 seconds",
        error["errorMessage"],
    )
    # A deadline, so a bound: generous (how soon is bench/bench_lambda.py's figure).
    assert elapsed < SLEEP_PAST_TIMEOUT_S / 2, f"the 1 s timeout answered after {elapsed:.1f} s"
    assert "Task timed out after 1.00 seconds" in tail_logs(response)
    assert "FunctionError" not in after and isinstance(result["pid"], int)
    assert "Init Duration" in tail_logs(after)


def test_exit_in_handler_is_an_exit_error_and_the_next_invoke_works(lambda_client, basic):
    name = basic("exit_now")

    response, error = invoke(lambda_client, name)
    _, error_again = invoke(lambda_client, name)

    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in error["errorMessage"]
    assert error_again["errorType"] == "Runtime.ExitError"


def test_tail_logs_have_start_end_report_and_the_function_output(lambda_client, basic):
    # A function of its own: its first invocation is the cold one (Init Duration), in any order.
    name = basic("print_and_log", name="basic-tail-logs")

    first, result = invoke(lambda_client, name, {"marker": "m-1"}, LogType="Tail")
    second, _ = invoke(lambda_client, name, {"marker": "m-2"}, LogType="Tail")

    logs, request_id = tail_logs(first), first["ResponseMetadata"]["RequestId"]
    assert result == "ok"
    assert f"START RequestId: {request_id} Version: $LATEST" in logs
    assert f"END RequestId: {request_id}" in logs
    assert "printed line m-1" in logs
    assert re.search(rf"\[INFO\]\t\S+Z\t{request_id}\tlogged line m-1", logs)
    report = re.search(
        r"REPORT RequestId: \S+\tInit Duration: [\d.]+ ms\tDuration: [\d.]+ ms\t"
        r"Billed Duration: \d+ ms\tMemory Size: 128 MB\tMax Memory Used: (\d+) MB",
        logs,
    )
    assert report and 5 < int(report.group(1)) < 128
    assert "Init Duration" not in tail_logs(second)  # a warm invocation


def test_cloudwatch_logs_receive_the_function_output(localstack, lambda_client, basic):
    logs_client = client(localstack, "logs")
    name = basic("print_and_log")

    invoke(lambda_client, name, {"marker": "cw-7"})

    deadline, messages = time.monotonic() + 15, []
    while time.monotonic() < deadline and not any("printed line cw-7" in m for m in messages):
        time.sleep(0.3)
        with pytest.MonkeyPatch.context():
            try:
                events = logs_client.filter_log_events(logGroupName=f"/aws/lambda/{name}")
            except logs_client.exceptions.ResourceNotFoundException:
                continue
        messages = [event["message"] for event in events["events"]]
    assert any("printed line cw-7" in m for m in messages)
    assert any(m.startswith("REPORT RequestId") for m in messages)


@pytest.mark.parametrize("invocation_type", ["RequestResponse", "Event"])
def test_function_writes_to_s3_through_boto3(localstack, lambda_client, basic, invocation_type):
    s3 = client(localstack, "s3")
    bucket, key = "p300-lambda-writes", f"from-lambda/{invocation_type}.json"
    s3.create_bucket(Bucket=bucket)

    response = lambda_client.invoke(
        FunctionName=basic("write_s3"),
        InvocationType=invocation_type,
        Payload=json.dumps({"bucket": bucket, "key": key}),
    )

    assert response["StatusCode"] == (202 if invocation_type == "Event" else 200)
    s3.get_waiter("object_exists").wait(
        Bucket=bucket, Key=key, WaiterConfig={"Delay": 0.2, "MaxAttempts": 75}
    )
    body = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert body == {"bucket": bucket, "key": key}


def test_layer_modules_are_importable(lambda_client):
    layer_zip = zip_bytes(
        {
            "python/p300_layer_greeting.py": (
                FUNCTIONS / "layer_module" / "p300_layer_greeting.py"
            ).read_bytes()
        }
    )
    layer = lambda_client.publish_layer_version(
        LayerName="p300-greeting", Content={"ZipFile": layer_zip}, CompatibleRuntimes=["python3.13"]
    )
    create_function(
        lambda_client,
        "uses-layer",
        code=function_zip("uses_layer"),
        handler="index.handler",
        Layers=[layer["LayerVersionArn"]],
    )

    _, result = invoke(lambda_client, "uses-layer", {"name": "ada"})

    assert result == "hello ada from a layer"


def test_weighted_alias_routes_about_80_20(lambda_client):
    name = "weighted"
    function_with_two_versions(lambda_client, name)
    lambda_client.create_alias(
        FunctionName=name,
        Name="live",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.2}},
    )
    n_invokes, share = 200, 0.2

    results = [invoke(lambda_client, f"{name}:live")[1] for _ in range(n_invokes)]

    on_two = sum(r == {"version": "2", "marker": "two"} for r in results)
    on_one = sum(r == {"version": "1", "marker": "one"} for r in results)
    sigma = math.sqrt(n_invokes * share * (1 - share))
    assert on_one + on_two == n_invokes
    assert abs(on_two - n_invokes * share) <= 4 * sigma


def concurrent_sleeps(clients, name: str, *, seconds: float = 1) -> list[dict]:
    """Invoke `name` once per client at the same time (each sleeps `seconds`); their answers."""
    answers: list[dict] = []

    def call(lambda_client) -> None:
        answers.append(invoke(lambda_client, name, {"seconds": seconds})[1])

    threads = [threading.Thread(target=call, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(answers) == len(clients), answers
    return answers


def ran_at_once(answers: list[dict]) -> bool:
    """Whether every handler had started before any of them ended."""
    return max(a["started"] for a in answers) < min(a["ended"] for a in answers)


def test_concurrent_invokes_run_in_separate_environments(localstack, basic):
    """Four invokes at once get four environments, and run at the same time (their wall time,
    cold and warm, is bench/bench_lambda.py's figure)."""
    name = basic("sleep_then_pid", name="basic-concurrent", Timeout=10)
    clients = [client(localstack, "lambda") for _ in range(4)]

    # Sleeps long enough to outlast four cold starts sharing two busy cores.
    cold = concurrent_sleeps(clients, name, seconds=3)
    warm = concurrent_sleeps(clients, name, seconds=3)

    assert all("pid" in a for a in cold + warm), cold + warm
    assert len({a["pid"] for a in cold}) == 4
    assert {a["pid"] for a in warm} == {a["pid"] for a in cold}
    assert ran_at_once(cold) and ran_at_once(warm)


@pytest.mark.parametrize(
    ("name", "package", "reason"),
    [
        (
            "node-fn",
            {"Runtime": "nodejs20.x", "Handler": "index.handler"},
            "runs only Python runtimes (python3.x), got runtime 'nodejs20.x'",
        ),
        (
            "image-fn",
            {"PackageType": "Image"},
            "runs only Zip packages, got PackageType 'Image'",
        ),
    ],
)
def test_what_cannot_run_here_is_refused_with_a_reason(lambda_client, name, package, reason):
    code = (
        {"ImageUri": "000000000000.dkr.ecr.us-east-1.amazonaws.com/fn:latest"}
        if package.get("PackageType") == "Image"
        else {"ZipFile": zip_bytes({"index.js": "exports.handler = async () => 1;"})}
    )
    lambda_client.create_function(FunctionName=name, Role=ROLE_ARN, Code=code, **package)

    conf = wait_for_state(lambda_client, name)

    assert conf["State"] == "Failed"
    assert reason in conf["StateReason"]
    with pytest.raises(lambda_client.exceptions.ResourceConflictException, match="Failed"):
        lambda_client.invoke(FunctionName=name, Payload=b"{}")


def environment_processes(server) -> list[psutil.Process]:
    """The runtime environments (bootstrap processes) LocalStack `server` started."""
    parent = psutil.Process(server.pid)
    return [
        p for p in parent.children(recursive=True) if any("bootstrap.py" in a for a in p.cmdline())
    ]


@pytest.mark.parametrize("ending", ["sigterm", "sigkill"])
def test_no_environment_survives_localstack(tmp_path, ending):
    """SIGTERM is what stop_server sends first. Its fallback (SIGKILL of all descendants) would
    hide a leak, so the environments must be gone before stop_server is even called."""
    server = launch(tmp_path / "home")
    scratch = tmp_path / "home" / "localstack" / "lambda" / "envs"
    try:
        lambda_client = client(server, "lambda")
        create_function(
            lambda_client, "sleepy", code=function_zip("basic"), handler="index.sleep_then_pid"
        )
        clients = [client(server, "lambda") for _ in range(2)]
        concurrent_sleeps(clients, "sleepy")
        environments = environment_processes(server)
        n_scratch_dirs = len(list(scratch.iterdir()))
        if ending == "sigterm":
            os.kill(server.pid, signal.SIGTERM)
        else:
            kill_server(server)
        _, alive = psutil.wait_procs(environments, timeout=10)
    finally:
        stop_server(server, timeout=10)

    assert len(environments) == 2 and n_scratch_dirs == 2
    assert alive == []
    if ending == "sigterm":  # a clean stop also removes their scratch folders
        assert list(scratch.iterdir()) == []
