"""Executions of the pipeline's state machines, against a stubbed Step Functions client."""

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import Stubber

from p300_ops.services.errors import ServiceError
from p300_ops.services.pipeline_executions import (
    describe,
    list_executions,
    state_machine_arn,
    trigger,
)
from p300_ops.services.training_runs import run_training

ARN = "arn:aws:states:us-east-1:000000000000:stateMachine:"
START = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def _sfn():
    client = boto3.client("stepfunctions", region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test")  # fmt: skip
    return client, Stubber(client)


def _machines(stub: Stubber, *names: str) -> None:
    machines = [{"stateMachineArn": ARN + n, "name": n, "type": "STANDARD", "creationDate": START}
                for n in names]  # fmt: skip
    stub.add_response("list_state_machines", {"stateMachines": machines}, {})


def _execution(machine: str, name: str, minutes: int) -> dict:
    started = START + timedelta(minutes=minutes)
    return {"executionArn": f"{ARN}{machine}:{name}", "stateMachineArn": ARN + machine,
            "name": name, "status": "SUCCEEDED", "startDate": started}  # fmt: skip


def test_executions_of_both_machines_newest_first_at_most_limit():
    sfn, stub = _sfn()
    _machines(stub, "p300-ingest-and-process", "p300-train", "other")
    ingest = "p300-ingest-and-process"
    stub.add_response("list_executions", {"executions": [_execution(ingest, "a", 1)]},
                      {"stateMachineArn": ARN + ingest})  # fmt: skip
    stub.add_response("list_executions", {"executions": [_execution("p300-train", "b", 2),
                                                         _execution("p300-train", "c", 0)]},
                      {"stateMachineArn": ARN + "p300-train"})  # fmt: skip
    with stub:
        found = list_executions(sfn, limit=2)
    assert [ex["name"] for ex in found] == ["b", "a"]


def test_an_unknown_state_machine_names_those_deployed():
    sfn, stub = _sfn()
    _machines(stub, "p300-train")
    with stub, pytest.raises(ServiceError, match=r"no state machine 'x' .*deployed: p300-train"):
        state_machine_arn(sfn, "x")


def test_describe_parses_input_and_output():
    sfn, stub = _sfn()
    described = _execution("p300-train", "t", 0) | {"input": '{"seed": 1}', "output": '{"ok": 1}'}
    stub.add_response("describe_execution", described, {"executionArn": described["executionArn"]})
    with stub:
        got = describe(sfn, described["executionArn"])
    assert (got["input"], got["output"]) == ({"seed": 1}, {"ok": 1})


def test_a_failed_training_says_why_and_where_to_look():
    sfn, stub = _sfn()
    _machines(stub, "p300-train")
    stub.add_response("start_execution", {"executionArn": ARN + "p300-train:t", "startDate": START})
    cause = json.dumps({"errorMessage": "no processed subjects", "errorType": "ValueError"})
    failed = _execution("p300-train", "t", 0) | {"status": "FAILED", "error": "ValueError",
                                                 "cause": cause}  # fmt: skip
    stub.add_response("describe_execution", failed)
    with stub, pytest.raises(ServiceError, match=r"training FAILED: ValueError: no processed "
                             r"subjects \(details: p300 executions show train-"):  # fmt: skip
        run_training(sfn, {"seed": 1}, timeout=5)


def test_a_page_of_executions_skips_the_newest_offset():
    sfn, stub = _sfn()
    _machines(stub, "p300-train")
    found = [_execution("p300-train", name, minutes) for minutes, name in enumerate("abcde")]
    stub.add_response(
        "list_executions", {"executions": found}, {"stateMachineArn": ARN + "p300-train"}
    )
    with stub:
        page = list_executions(sfn, state_machine="train", limit=2, offset=2)
    assert [ex["name"] for ex in page] == ["c", "b"]


def test_a_negative_offset_is_refused():
    sfn, _ = _sfn()
    with pytest.raises(ValueError, match="offset must be >= 0, got -1"):
        list_executions(sfn, offset=-1)


@pytest.mark.parametrize(
    ("name", "execution_input", "expected"),
    [
        ("0f3c9a2e-1b7d-4c1e", {"source": "aws.s3", "detail-type": "Object Created"}, "S3 event"),
        ("0f3c9a2e-1b7d-4c1e", {"catch_up": True}, "catch-up"),
        ("train-20261122-101500-ab12", {"subjects": ["01"]}, "CLI"),
        ("my-run", {"subjects": ["01"]}, "other"),
        ("train-by-hand", None, "other"),
    ],
)
def test_trigger_from_name_and_input(name, execution_input, expected):
    assert trigger(name, execution_input) == expected
