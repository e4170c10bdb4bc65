"""LocalStack's memory stops growing with what the cloud stores and runs: each fix's leak shows on
an instance without it and is gone with it (``p300_localstack/patches/s3_memory.py`` and
``service_models.py``, ``assumed_roles.py``; figures in docs/scaling.md).

What the process holds is read from the extension's ``GET /_p300/memory`` endpoint.
"""

import hashlib
import json
import time

import httpx
import pytest

from p300_ops.localcloud.localstack import endpoint_url
from p300_ops.localcloud.processes import kill_server, stop_server
from tests.integration.localstack.conftest import (
    ROLE_ARN,
    client,
    create_function,
    function_zip,
    launch,
)

pytestmark = [pytest.mark.cloud, pytest.mark.timeout(600)]

FIXES = (
    "assumed_role_sessions_reused",
    "internal_clients_share_service_models",
    "s3_contents_evicted_from_memory",
)
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


def settled_memory(server) -> dict:
    """`memory` once no internal client was built for two telemetry flushes (0.5 s each): the
    clients a fresh instance builds lazily, e.g. for the first logs a flush sends after a run,
    are not counted against what follows (fails after 30 s)."""
    deadline = time.monotonic() + 30
    figures = memory(server)
    while time.monotonic() < deadline:
        time.sleep(1.0)
        again = memory(server)
        if again["internal_clients_created"] == figures["internal_clients_created"]:
            return again
        figures = again
    raise AssertionError(f"internal clients still being built after 30 s: {figures}")


ECHO_TASK = {
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
RUNS = 8


def echo_machines(server):
    """(a factory: state machine `name` running function mem-echo with role `role` -> its ARN,
    the Step Functions client) on `server`."""
    lambda_client, sfn = client(server, "lambda"), client(server, "stepfunctions")
    if "mem-echo" not in {f["FunctionName"] for f in lambda_client.list_functions()["Functions"]}:
        create_function(lambda_client, "mem-echo", code=function_zip("basic"), handler="index.echo")

    def make(name: str, role: str = ROLE_ARN) -> str:
        return sfn.create_state_machine(name=name, roleArn=role, definition=json.dumps(ECHO_TASK))[
            "stateMachineArn"
        ]

    return make, sfn


def run_echo(sfn, machine: str, n: int) -> None:
    """Run `machine` with input {"n": n}; check it answered n."""
    arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"n": n}))["executionArn"]
    deadline = time.monotonic() + 60
    while (execution := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, f"execution {n} still running after 60 s"
        time.sleep(0.2)
    assert execution["status"] == "SUCCEEDED", execution
    assert json.loads(execution["output"]) == {"n": n}


@pytest.mark.parametrize(("instance", "fixed"), [("unpatched", False), ("localstack", True)])
def test_a_task_under_a_role_already_assumed_builds_no_client(request, instance, fixed):
    server = request.getfixturevalue(instance)
    make, sfn = echo_machines(server)
    machine = make("mem-same-role")
    run_echo(sfn, machine, 0)  # the role's session and clients exist from here on
    before = settled_memory(server)
    for n in range(1, RUNS + 1):
        run_echo(sfn, machine, n)
    after = memory(server)

    built = after["internal_clients_created"] - before["internal_clients_created"]
    if fixed:
        assert built == 0, f"{built} clients built for {RUNS} runs: {before} -> {after}"
    else:  # the leak: an AssumeRole and a new client (class, methods, docstrings) per task
        assert built >= RUNS, f"only {built} clients built for {RUNS} runs"


@pytest.mark.parametrize(("instance", "fixed"), [("unpatched", False), ("localstack", True)])
def test_new_clients_of_a_known_service_add_no_request_parsers(request, instance, fixed):
    server = request.getfixturevalue(instance)
    make, sfn = echo_machines(server)
    run_echo(sfn, make("mem-warm"), 0)  # every parser this path needs exists from here on
    machines = [
        make(f"mem-role-{i}", f"arn:aws:iam::000000000000:role/mem-{i}") for i in range(RUNS)
    ]
    before = memory(server)
    for n, machine in enumerate(machines, start=1):  # a new role each: new clients either way
        run_echo(sfn, machine, n)
    after = memory(server)

    assert after["internal_clients_created"] - before["internal_clients_created"] >= RUNS
    added = after["parsers_cached"] - before["parsers_cached"]
    if fixed:
        assert added == 0, f"{added} parsers cached for {RUNS} new clients: {before} -> {after}"
    else:  # the leak: a parser (and serializer) with its own models and URL map per client
        assert added >= RUNS, f"only {added} parsers cached for {RUNS} new clients"


def put_bodies(s3, bucket: str) -> dict[str, bytes]:
    """`OBJECTS` contents of `OBJECT_BYTES` each put in a new `bucket`; key -> body."""
    s3.create_bucket(Bucket=bucket)
    bodies = {f"k{i:02d}": bytes([i]) * OBJECT_BYTES for i in range(OBJECTS)}
    for key, body in bodies.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    return bodies


@pytest.mark.parametrize(("instance", "fixed"), [("unpatched", False), ("localstack", True)])
def test_s3_contents_leave_memory_and_read_back_the_same(request, instance, fixed):
    server = request.getfixturevalue(instance)
    s3 = client(server, "s3")
    bucket = "mem-contents"
    bodies = put_bodies(s3, bucket)
    written = memory(server)["s3_contents"]

    for key, body in bodies.items():  # every content, evicted or not, reads back as written
        got = s3.get_object(Bucket=bucket, Key=key)
        assert got["Body"].read() == body
        assert got["ETag"].strip('"') == hashlib.md5(body).hexdigest()
    ranged = s3.get_object(Bucket=bucket, Key="k00", Range="bytes=10-19")["Body"].read()
    assert ranged == bodies["k00"][10:20]
    read = memory(server)["s3_contents"]

    # Writes to contents dropped from memory (the oldest were) behave as to any other.
    s3.put_object(Bucket=bucket, Key="k00", Body=b"rewritten")
    s3.delete_object(Bucket=bucket, Key="k01")
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "k02"})
    assert s3.get_object(Bucket=bucket, Key="k00")["Body"].read() == b"rewritten"
    assert s3.get_object(Bucket=bucket, Key="copy")["Body"].read() == bodies["k02"]
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket=bucket, Key="k01")

    total = OBJECTS * OBJECT_BYTES
    if fixed:
        for figures in (written, read):
            assert figures["memory_bytes"] <= RESIDENT_LIMIT_BYTES, figures
    else:  # LocalStack keeps every content in memory as long as the object exists
        assert written["memory_bytes"] >= total, written


def test_contents_dropped_from_memory_come_back_after_a_kill(tmp_path):
    """Eviction drops only the in-memory copy: a kill -9 after it loses nothing acknowledged."""
    home = tmp_path / "evicting"
    server = launch(home)
    try:
        s3 = client(server, "s3")
        bodies = put_bodies(s3, "evicted")
        s3.put_object(Bucket="evicted", Key="k00", Body=b"rewritten")  # k00 had been dropped
        bodies["k00"] = b"rewritten"
        assert memory(server)["s3_contents"]["memory_bytes"] <= RESIDENT_LIMIT_BYTES
    finally:
        kill_server(server)
    server = launch(home)
    try:
        s3 = client(server, "s3")
        for key, body in bodies.items():
            assert s3.get_object(Bucket="evicted", Key=key)["Body"].read() == body, key
    finally:
        stop_server(server)
