"""Shared by the integration tests: a local cloud on free ports, and the processes it runs."""

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
from click.testing import CliRunner, Result

from p300_aws.names import INGEST_STATE_MACHINE, LANDING_BUCKET
from p300_ops.cli import main
from p300_ops.localcloud import lifecycle
from p300_ops.localcloud.processes import free_port


def cloud_config(home: Path, *, backend: str = "sqlite") -> lifecycle.CloudConfig:
    return lifecycle.CloudConfig(
        home=home,
        localstack_port=free_port(),
        mlflow_port=free_port(),
        postgres_port=free_port(),
        backend=backend,
    )


def cli(cloud: lifecycle.CloudState, *args: str, ok: bool = True) -> Result:
    """``p300 ARGS --home <cloud's home>`` run in process; with `ok`, it must succeed."""
    result = CliRunner().invoke(main, [*args, "--home", cloud.home])
    if ok:
        assert result.exit_code == 0, result.output
    return result


def process_family(state: lifecycle.CloudState) -> list[psutil.Process]:
    """Every live process `up` started, with all their descendants."""
    family = []
    for server in state.servers.values():
        proc = server.process()
        if proc is not None:
            family += [proc, *proc.children(recursive=True)]
    return family


def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    return [p for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


@contextmanager
def event_sentinel(events, sqs, *, name: str, pattern: dict) -> Iterator[Callable[[], dict]]:
    """An enabled EventBridge rule matching ``pattern`` that delivers to a queue of its own, for
    the negative tests of other rules: once the sentinel has an event, EventBridge has matched it
    against every rule, so "nothing happened" can be checked without sleeping on a guess.

    Yields ``wait()``, which returns the first event the sentinel received (failing after 60 s).
    """
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    events.put_rule(Name=name, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=name, Targets=[{"Id": "sentinel", "Arn": queue_arn}])

    def wait() -> dict:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            received = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=5)
            if received.get("Messages"):
                return json.loads(received["Messages"][0]["Body"])
        raise AssertionError(f"sentinel rule {name} received no event matching {pattern} in 60 s")

    try:
        yield wait
    finally:
        events.remove_targets(Rule=name, Ids=["sentinel"])
        events.delete_rule(Name=name)
        sqs.delete_queue(QueueUrl=queue_url)


@contextmanager
def landing_rule_disabled(events) -> Iterator[str]:
    """The rule that starts an ingest on each landing upload, disabled for the block (uploads
    stay in the landing zone); yields its name."""
    (rule,) = [
        r
        for r in events.list_rules()["Rules"]
        if LANDING_BUCKET in r.get("EventPattern", "")
        and any(
            t["Arn"].endswith(f":{INGEST_STATE_MACHINE}")
            for t in events.list_targets_by_rule(Rule=r["Name"])["Targets"]
        )
    ]
    events.disable_rule(Name=rule["Name"])
    try:
        yield rule["Name"]
    finally:
        events.enable_rule(Name=rule["Name"])


def predict_headers(state: lifecycle.CloudState) -> dict[str, str]:
    """The ``Authorization`` header of the CLI's own prediction token in ``state``'s home: what
    every request to the prediction API sends (its authorizer: tests/integration/security/)."""
    from p300_ops.services.cloud import Cloud

    return Cloud(state).api_headers("predict")
