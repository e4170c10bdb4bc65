"""A real LocalStack (with our extension) for the integration tests, and helpers to deploy to it."""

import io
import json
import time
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import boto3
import pytest

from p300_ops.localcloud.localstack import client_env, start_localstack
from p300_ops.localcloud.processes import ServerProcess, free_port, stop_server

FUNCTIONS = Path(__file__).parent / "functions"
ROLE_ARN = "arn:aws:iam::000000000000:role/lambda-role"


def launch(home: Path, env_overrides: Mapping[str, str] | None = None) -> ServerProcess:
    return start_localstack(home, port=free_port(), env_overrides=env_overrides)


def session_for(server: ServerProcess) -> boto3.Session:
    env = client_env(server.port)
    return boto3.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_DEFAULT_REGION"],
    )


def client(server: ServerProcess, service: str):
    return session_for(server).client(
        service, endpoint_url=client_env(server.port)["AWS_ENDPOINT_URL"]
    )


@pytest.fixture(scope="session")
def localstack(tmp_path_factory) -> Iterator[ServerProcess]:
    """One LocalStack with every patch, shared by the session; stopped by PID at the end."""
    server = launch(tmp_path_factory.mktemp("localstack"))
    yield server
    stop_server(server)


def zip_bytes(files: Mapping[str, bytes | str]) -> bytes:
    """A zip archive holding `files` (archive path -> content)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def function_zip(name: str) -> bytes:
    """The zip of tests/integration/localstack/functions/`name`/ (files at the archive root)."""
    folder = FUNCTIONS / name
    return zip_bytes({p.name: p.read_bytes() for p in folder.glob("*.py")})


def create_function(
    lambda_client,
    name: str,
    *,
    code: bytes,
    handler: str,
    runtime: str = "python3.13",
    wait: bool = True,
    **options,
) -> dict:
    """Create a zip function and (by default) wait until it is Active."""
    lambda_client.create_function(
        FunctionName=name,
        Runtime=runtime,
        Role=ROLE_ARN,
        Handler=handler,
        Code={"ZipFile": code},
        **options,
    )
    return wait_for_state(lambda_client, name) if wait else {}


def wait_for_state(lambda_client, name: str, *, qualifier: str | None = None) -> dict:
    """The function's configuration once it left Pending and its last update finished."""
    extra = {"Qualifier": qualifier} if qualifier else {}
    deadline = time.monotonic() + 30
    while True:
        conf = lambda_client.get_function_configuration(FunctionName=name, **extra)
        settled = conf["State"] != "Pending" and conf.get("LastUpdateStatus") != "InProgress"
        if settled or time.monotonic() > deadline:
            return conf
        time.sleep(0.1)


def function_with_two_versions(lambda_client, name: str) -> None:
    """Function `name` (handler index.version_name) with versions 1 and 2, which differ in the
    MARKER variable ('one', 'two') their handler returns."""
    create_function(
        lambda_client,
        name,
        code=function_zip("basic"),
        handler="index.version_name",
        Environment={"Variables": {"MARKER": "one"}},
    )
    lambda_client.publish_version(FunctionName=name)
    lambda_client.update_function_configuration(
        FunctionName=name, Environment={"Variables": {"MARKER": "two"}}
    )
    wait_for_state(lambda_client, name)
    lambda_client.publish_version(FunctionName=name)


def deploy_stack(cfn_client, name: str, template: dict) -> str:
    """Create stack `name` from `template`, or update it when it exists; the final status."""
    body = json.dumps(template)
    existing = {s["StackName"] for s in cfn_client.list_stacks()["StackSummaries"]}
    if name in existing:
        cfn_client.update_stack(StackName=name, TemplateBody=body)
    else:
        cfn_client.create_stack(StackName=name, TemplateBody=body)
    deadline = time.monotonic() + 60
    while True:
        status = cfn_client.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
        if not status.endswith("IN_PROGRESS") or time.monotonic() > deadline:
            return status
        time.sleep(0.3)


def stack_failure_reasons(cfn_client, name: str) -> str:
    """The reasons of the stack's failed resource events, one per line."""
    events = cfn_client.describe_stack_events(StackName=name)["StackEvents"]
    return "\n".join(
        f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason', '')}"
        for e in events
        if e["ResourceStatus"].endswith("FAILED")
    )
