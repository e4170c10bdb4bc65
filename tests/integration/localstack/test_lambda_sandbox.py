"""A function cannot escape its execution environment: memory, /tmp, processes, other
environments, shared code, durable S3's files, and what its zip may hold.

These run LocalStack as root (as here); the sandbox's startup log line says what a host allows.
"""

import base64
import io
import json
import re
import time
import zipfile
from pathlib import Path

import psutil
import pytest

from p300_ops.localcloud.processes import kill_server, stop_server
from tests.integration.localstack.conftest import (
    FUNCTIONS,
    client,
    create_function,
    launch,
    wait_for_state,
    zip_bytes,
)

pytestmark = [pytest.mark.cloud, pytest.mark.timeout(600)]
SANDBOX_ZIP = zip_bytes({"index.py": (FUNCTIONS / "sandbox" / "index.py").read_bytes()})


@pytest.fixture(scope="module")
def lambda_client(localstack):
    return client(localstack, "lambda")


@pytest.fixture(scope="module")
def sandboxed(lambda_client):
    """A deployed function per handler of functions/sandbox/index.py, created on first use."""
    created: set[str] = set()

    def deploy(handler: str, *, name: str = "", **options) -> str:
        name = name or f"sandbox-{handler.replace('_', '-')}"
        if name not in created:
            conf = create_function(
                lambda_client, name, code=SANDBOX_ZIP, handler=f"index.{handler}", **options
            )
            assert conf["State"] == "Active", conf.get("StateReason")
            created.add(name)
        return name

    return deploy


def invoke(lambda_client, name: str, event: dict | None = None, **options) -> tuple[dict, object]:
    response = lambda_client.invoke(FunctionName=name, Payload=json.dumps(event or {}), **options)
    return response, json.loads(response["Payload"].read() or b"null")


def tail_logs(response: dict) -> str:
    return base64.b64decode(response["LogResult"]).decode()


def test_the_startup_log_says_what_isolation_this_host_gives(localstack, sandboxed):
    sandboxed("where_am_i")
    log = Path(localstack.log_path).read_text()
    assert "p300 Lambda sandbox: each environment runs as its own user" in log
    assert "memory is limited to MemorySize by cgroup" in log
    assert "/tmp is a private ext4 image of EphemeralStorage MB" in log


def test_allocating_past_memory_size_kills_the_environment_with_aws_error(lambda_client, sandboxed):
    name = sandboxed("allocate", MemorySize=128)

    response, error = invoke(lambda_client, name, {"mb": 300}, LogType="Tail")
    _, after = invoke(lambda_client, name, {"mb": 20})

    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Runtime.OutOfMemory"
    assert re.fullmatch(
        r"RequestId: [0-9a-f-]{36} Error: Runtime exited with error: signal: killed",
        error["errorMessage"],
    )
    assert re.search(
        r"REPORT RequestId: .*Memory Size: 128 MB\tMax Memory Used: \d+ MB\tStatus: error\t"
        r"Error Type: Runtime.OutOfMemory",
        tail_logs(response),
    )
    assert after == {"allocated_mb": 20}  # the next invocation gets a fresh environment


def test_tmp_is_bounded_by_ephemeral_storage(lambda_client, sandboxed):
    name = sandboxed("fill_tmp", EphemeralStorage={"Size": 512}, MemorySize=256, Timeout=120)

    _, result = invoke(lambda_client, name, {"mb": 700})

    assert result["error"] == "ENOSPC"
    assert 450 <= result["written_mb"] < 512


def test_a_function_cannot_reach_another_environment_shared_code_or_durable_s3(
    localstack, lambda_client, sandboxed
):
    victim = sandboxed(
        "where_am_i", name="sandbox-victim", Environment={"Variables": {"SECRET": "s3cr3t"}}
    )
    _, where = invoke(lambda_client, victim)
    prober = sandboxed("attempt", name="sandbox-prober")
    s3_dir = Path(localstack.log_path).parents[1] / "s3"
    attempts = [
        ["read", "/proc/self/environ"],  # its own: allowed (the probe itself works)
        ["read", f"/proc/{where['pid']}/environ"],
        ["list", where["tmp"]],
        ["write", f"{where['task_root']}/index.py"],  # the same zip: code shared with the victim
        ["list", str(s3_dir)],
        ["write", str(s3_dir / "lock")],
    ]

    _, outcomes = invoke(lambda_client, prober, {"attempts": attempts})

    assert where["uid"] >= 2_100_000_000 and where["secret"] == "s3cr3t"
    assert outcomes.pop("read /proc/self/environ") == "allowed"
    assert "allowed" not in outcomes.values(), outcomes


def test_a_python_subprocess_of_a_function_finds_boto3_and_the_function_code(
    lambda_client, sandboxed
):
    _, result = invoke(lambda_client, sandboxed("python_subprocess"))
    assert result["stdout"] == "ok", result["stderr"]


def still_running(pids: list[int]) -> list[int]:
    """Those of `pids` that are alive (zombies waiting for a reaper count as ended)."""
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            pass
    return alive


def wait_until_ended(pids: list[int], timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while still_running(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return still_running(pids)


def test_a_timed_out_function_leaves_no_process(lambda_client, sandboxed):
    name = sandboxed("fork_sleepers", Timeout=2)

    response, error = invoke(lambda_client, name, {"seconds": 60}, LogType="Tail")

    children = [int(p) for p in re.search(r"children (\d+) (\d+)", tail_logs(response)).groups()]
    assert "Task timed out after 2.00 seconds" in error["errorMessage"]
    assert wait_until_ended(children) == []


def test_no_child_of_a_function_survives_a_killed_localstack(tmp_path):
    server = launch(tmp_path / "home")
    try:
        lambda_client = client(server, "lambda")
        create_function(
            lambda_client, "forks", code=SANDBOX_ZIP, handler="index.fork_sleepers", Timeout=300
        )
        lambda_client.invoke(FunctionName="forks", InvocationType="Event", Payload=b"{}")
        deadline, sleepers = time.monotonic() + 30, []
        while len(sleepers) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
            sleepers = [
                p.pid
                for p in psutil.Process(server.pid).children(recursive=True)
                if p.name() == "sleep"
            ]
        kill_server(server)
        left = wait_until_ended(sleepers)
    finally:
        stop_server(server)
    assert len(sleepers) == 2
    assert left == []


def zip_with_link(link_target: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return 1\n")
        link = zipfile.ZipInfo("leak")
        link.create_system = 3
        link.external_attr = 0o120777 << 16
        archive.writestr(link, link_target)
    return buffer.getvalue()


def test_a_zip_with_a_symbolic_link_is_refused_and_its_target_untouched(lambda_client, tmp_path):
    private = tmp_path / "private.key"
    private.write_text("secret")
    private.chmod(0o600)
    lambda_client.create_function(
        FunctionName="with-link",
        Runtime="python3.13",
        Role="arn:aws:iam::000000000000:role/lambda-role",
        Handler="index.handler",
        Code={"ZipFile": zip_with_link(str(private))},
    )

    conf = wait_for_state(lambda_client, "with-link")

    assert conf["State"] == "Failed"
    assert "entry 'leak' is a symbolic link; links are not allowed" in conf["StateReason"]
    assert private.stat().st_mode & 0o777 == 0o600


def test_a_layer_with_a_symbolic_link_fails_the_functions_using_it(lambda_client):
    layer = lambda_client.publish_layer_version(
        LayerName="linked", Content={"ZipFile": zip_with_link("/etc/shadow")}
    )
    lambda_client.create_function(
        FunctionName="uses-linked-layer",
        Runtime="python3.13",
        Role="arn:aws:iam::000000000000:role/lambda-role",
        Handler="index.handler",
        Code={"ZipFile": zip_bytes({"index.py": "def handler(e, c):\n    return 1\n"})},
        Layers=[layer["LayerVersionArn"]],
    )

    conf = wait_for_state(lambda_client, "uses-linked-layer")

    assert conf["State"] == "Failed"
    assert f"{layer['LayerVersionArn']}: entry 'leak' is a symbolic link" in conf["StateReason"]
