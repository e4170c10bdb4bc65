"""LocalStack's memory stops growing with what the cloud stores and runs: each fix's leak shows on
an instance without it and is gone with it (``p300_localstack/patches/s3_memory.py`` and
``service_models.py``; figures in docs/scaling.md).

What the process holds is read from the extension's ``GET /_p300/memory`` endpoint.
"""

import hashlib
import json
import time

import httpx
import pytest

from p300_ops.localcloud.localstack import endpoint_url
from p300_ops.localcloud.processes import stop_server
from tests.integration.localstack.conftest import (
    ROLE_ARN,
    client,
    create_function,
    function_zip,
    launch,
)

pytestmark = [pytest.mark.cloud, pytest.mark.timeout(600)]

FIXES = ("internal_clients_share_service_models", "s3_contents_evicted_from_memory")
#: `p300_localstack.patches.s3_memory.RESIDENT_LIMIT_BYTES`
RESIDENT_LIMIT_BYTES = 16 * 2**20
#: Just under LocalStack's 512 KB spooling threshold: each content stays in memory.
OBJECT_BYTES = 500 * 1024
OBJECTS = 48  # 24 MB in all, above the limit


@pytest.fixture(scope="module")
def unpatched(tmp_path_factory):
    server = launch(
        tmp_path_factory.mktemp("unpatched"), {"P300_DISABLED_PATCHES": ",".join(FIXES)}
    )
    yield server
    stop_server(server)


def memory(server) -> dict:
    response = httpx.get(f"{endpoint_url(server.port)}/_p300/memory", timeout=30)
    response.raise_for_status()
    return response.json()


def run_lambda_task(sfn, machine: str, n: int) -> dict:
    """Run `machine` with input {"n": n} to its end; the execution described."""
    arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"n": n}))["executionArn"]
    deadline = time.monotonic() + 60
    while (execution := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, f"execution {n} still running after 60 s"
        time.sleep(0.2)
    return execution


@pytest.mark.parametrize(("instance", "fixed"), [("unpatched", False), ("localstack", True)])
def test_step_functions_lambda_tasks_add_no_request_parsers(request, instance, fixed):
    server = request.getfixturevalue(instance)
    lambda_client, sfn = client(server, "lambda"), client(server, "stepfunctions")
    create_function(lambda_client, "mem-echo", code=function_zip("basic"), handler="index.echo")
    definition = {
        "StartAt": "Echo",
        "States": {
            "Echo": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "mem-echo", "Payload.$": "$"},
                "ResultSelector": {"n.$": "$.Payload.event.n"},
                "End": True,
            }
        },
    }
    machine = sfn.create_state_machine(
        name="mem-echo", roleArn=ROLE_ARN, definition=json.dumps(definition)
    )["stateMachineArn"]
    run_lambda_task(sfn, machine, 0)  # every parser this path needs exists from here on
    before = memory(server)
    runs = 8
    for n in range(1, runs + 1):
        execution = run_lambda_task(sfn, machine, n)
        assert execution["status"] == "SUCCEEDED"
        assert json.loads(execution["output"]) == {"n": n}
    after = memory(server)

    added = after["parsers_cached"] - before["parsers_cached"]
    if fixed:
        assert added == 0, f"{added} parsers cached for {runs} runs: {before} -> {after}"
    else:  # the leak: one more parser (and serializer) per task's client, each with its models
        assert added >= runs, f"only {added} parsers cached for {runs} runs"


@pytest.mark.parametrize(("instance", "fixed"), [("unpatched", False), ("localstack", True)])
def test_s3_contents_leave_memory_and_read_back_the_same(request, instance, fixed):
    server = request.getfixturevalue(instance)
    s3 = client(server, "s3")
    bucket = "mem-contents"
    s3.create_bucket(Bucket=bucket)
    bodies = {f"k{i:02d}": bytes([i]) * OBJECT_BYTES for i in range(OBJECTS)}
    for key, body in bodies.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    written = memory(server)["s3_contents"]

    for key, body in bodies.items():  # every content, evicted or not, reads back as written
        got = s3.get_object(Bucket=bucket, Key=key)
        assert got["Body"].read() == body
        assert got["ETag"].strip('"') == hashlib.md5(body).hexdigest()
    ranged = s3.get_object(Bucket=bucket, Key="k00", Range="bytes=10-19")["Body"].read()
    assert ranged == bodies["k00"][10:20]
    read = memory(server)["s3_contents"]

    total = OBJECTS * OBJECT_BYTES
    if fixed:
        for figures in (written, read):
            assert figures["memory_bytes"] <= RESIDENT_LIMIT_BYTES, figures
    else:  # LocalStack keeps every content in memory as long as the object exists
        assert written["memory_bytes"] >= total, written
