"""Each Distributed Map ResultWriter bug fails on an instance without our fixes and works with them.

The "without" side is one extra LocalStack started with ``P300_DISABLED_PATCHES=all``; the fixes
are in ``p300_localstack/patches/distributed_map.py``.
"""

import json
import time

import pytest

from p300_ops.localcloud.processes import stop_server
from tests.integration.localstack.conftest import ROLE_ARN, client, launch

pytestmark = [pytest.mark.cloud, pytest.mark.timeout(600)]

ITEMS = [{"subject": f"s{i:02d}"} for i in range(3)]


@pytest.fixture(scope="module")
def unpatched(tmp_path_factory):
    server = launch(tmp_path_factory.mktemp("unpatched"), {"P300_DISABLED_PATCHES": "all"})
    yield server
    stop_server(server)


def distributed_map(result_writer_parameters: dict) -> dict:
    """A Distributed Map over the JSON array at ``$.bucket``/``items.json`` whose children echo
    their item under ``done``, its results written by ResultWriter with the given Parameters."""
    return {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemReader": {
                    "Resource": "arn:aws:states:::s3:getObject",
                    "ReaderConfig": {"InputType": "JSON"},
                    "Parameters": {"Bucket.$": "$.bucket", "Key": "items.json"},
                },
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "Echo",
                    "States": {
                        "Echo": {"Type": "Pass", "Parameters": {"done.$": "$.subject"}, "End": True}
                    },
                },
                "ResultWriter": {
                    "Resource": "arn:aws:states:::s3:putObject",
                    "Parameters": result_writer_parameters,
                },
                "End": True,
            }
        },
    }


def run_map(server, name: str, result_writer_parameters: dict) -> tuple[dict, list[str]]:
    """Run `distributed_map` on `server` with a fresh bucket; (the execution, the keys under
    ``out/`` afterwards)."""
    s3, sfn = client(server, "s3"), client(server, "stepfunctions")
    bucket = f"dmap-{name}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="items.json", Body=json.dumps(ITEMS).encode())
    machine = sfn.create_state_machine(
        name=name, roleArn=ROLE_ARN,
        definition=json.dumps(distributed_map(result_writer_parameters)),
    )["stateMachineArn"]  # fmt: skip
    arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"bucket": bucket}))[
        "executionArn"
    ]
    deadline = time.monotonic() + 120
    while (execution := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, f"{name} still running after 120 s"
        time.sleep(0.5)
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="out/").get("Contents", [])
    return execution, [o["Key"] for o in listed]


@pytest.mark.parametrize(("instance", "fixed"), [("unpatched", False), ("localstack", True)])
def test_result_writer_reads_its_parameters_from_the_state_input(request, instance, fixed):
    server = request.getfixturevalue(instance)
    execution, keys = run_map(server, "paths", {"Bucket.$": "$.bucket", "Prefix": "out"})

    if fixed:
        assert execution["status"] == "SUCCEEDED"
        assert any(key.endswith("/manifest.json") for key in keys)
    else:  # the paths were read from the map's results, which have no "bucket"
        assert execution["status"] == "FAILED"
        assert keys == []


@pytest.mark.parametrize(("instance", "fixed"), [("unpatched", False), ("localstack", True)])
def test_result_writer_writes_each_childs_output(request, instance, fixed):
    server = request.getfixturevalue(instance)
    execution, keys = run_map(server, "outputs", {"Bucket": "dmap-outputs", "Prefix": "out"})

    assert execution["status"] == "SUCCEEDED"
    succeeded = [key for key in keys if key.endswith("/SUCCEEDED_0.json")]
    if not fixed:  # only an empty manifest.json
        assert succeeded == []
        assert [key.rsplit("/", 1)[-1] for key in keys] == ["manifest.json"]
        return
    assert len(succeeded) == 1
    records = json.loads(
        client(server, "s3").get_object(Bucket="dmap-outputs", Key=succeeded[0])["Body"].read()
    )
    assert sorted(json.loads(record["Output"])["done"] for record in records) == [
        item["subject"] for item in ITEMS
    ]
