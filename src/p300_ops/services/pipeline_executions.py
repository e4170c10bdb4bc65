"""Step Functions executions of the pipeline: list them, find one, wait for it, read it."""

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from p300_aws.names import BACKFILL_STATE_MACHINE, INGEST_STATE_MACHINE, TRAIN_STATE_MACHINE
from p300_ops.services.errors import ServiceError
from p300_ops.services.execution_history import StateRun, iteration_statuses, state_runs
from p300_ops.services.outcomes import ItemOutcome, item_outcomes, summarize_output

STATE_MACHINES = {
    "ingest": INGEST_STATE_MACHINE,
    "train": TRAIN_STATE_MACHINE,
    "backfill": BACKFILL_STATE_MACHINE,
}
STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
#: What started an execution (`trigger`).
S3_EVENT, CATCH_UP, CLI, OTHER = "S3 event", "catch-up", "CLI", "other"
#: Names `p300 train` gives its executions (`training_runs.run_training`).
CLI_NAME = re.compile(r"^train-\d{8}-\d{6}-[0-9a-f]{4}$")


class ExecutionNotFound(ServiceError):
    """No pipeline execution has the name or ARN asked for."""


class ExecutionTimeout(ServiceError):
    """An execution was still running when the wait ended."""


@dataclass(frozen=True)
class ExecutionDetails:
    """One execution: ``describe_execution`` (input and output parsed), the states that ran,
    and, for an ingest execution's output, its groups and items."""

    described: dict
    runs: list[StateRun]
    summary: dict[str, list[dict]] | None = None
    items: list[ItemOutcome] = field(default_factory=list)
    #: ``(Map state, index) → status`` of every Map iteration (`iteration_statuses`)
    iterations: dict[tuple[str, int], str] = field(default_factory=dict)

    @property
    def trigger(self) -> str:
        return trigger(self.described["name"], self.described.get("input"))


def state_machine_name(choice: str) -> str:
    """``ingest``/``train`` → the pipeline's state machine names; any other name as given."""
    return STATE_MACHINES.get(choice, choice)


def deployed_state_machines(sfn) -> dict[str, str]:
    """Name → ARN of every deployed state machine."""
    pages = sfn.get_paginator("list_state_machines").paginate()
    return {m["name"]: m["stateMachineArn"] for page in pages for m in page["stateMachines"]}


def state_machine_arn(sfn, name: str) -> str:
    """The ARN of the state machine ``name``; `ServiceError` naming those deployed."""
    machines = deployed_state_machines(sfn)
    if name not in machines:
        raise ServiceError(
            f"no state machine {name!r} is deployed (deployed: "
            f"{', '.join(sorted(machines)) or 'none'}); is the pipeline deployed?"
        )
    return machines[name]


def list_executions(
    sfn,
    *,
    state_machine: str | None = None,
    status: str | None = None,
    limit: int = 20,
    offset: int = 0,
) -> list[dict]:
    """Executions, newest first: of ``state_machine`` (ingest, train, backfill or a name;
    default all three), with ``status`` when given; at most ``limit``, after skipping the
    ``offset`` newest (a page)."""
    if offset < 0:
        raise ValueError(f"offset must be >= 0, got {offset!r}")
    if state_machine:
        arns = [state_machine_arn(sfn, state_machine_name(state_machine))]
    else:
        deployed = deployed_state_machines(sfn)
        arns = [deployed[name] for name in STATE_MACHINES.values() if name in deployed]
    found = []
    for arn in arns:
        query = {"stateMachineArn": arn} | ({"statusFilter": status.upper()} if status else {})
        pages = sfn.get_paginator("list_executions").paginate(**query)
        found += [ex for page in pages for ex in page["executions"]]
    return sorted(found, key=lambda ex: ex["startDate"], reverse=True)[offset : offset + limit]


def trigger(name: str, execution_input: object) -> str:
    """What started an execution, from its name and (parsed) input: an S3 upload event (the
    raw EventBridge event), a catch-up run (the hourly rule's ``{"catch_up": true}``), `p300
    train` (its execution names), or something else (a hand-started execution)."""
    if isinstance(execution_input, dict):
        if execution_input.get("source") == "aws.s3":
            return S3_EVENT
        if execution_input.get("catch_up") is True:
            return CATCH_UP
    return CLI if CLI_NAME.match(name) else OTHER


def definition(sfn, arn: str) -> dict:
    """The ASL definition (parsed) that the execution ``arn`` runs."""
    described = sfn.describe_state_machine_for_execution(executionArn=arn)
    return json.loads(described["definition"])


def execution_arn(sfn, execution: str) -> str:
    """``execution`` when it is an ARN, else the ARN of the pipeline execution of that name."""
    if execution.startswith("arn:"):
        return execution
    deployed = deployed_state_machines(sfn)
    for name in STATE_MACHINES.values():
        if name not in deployed:
            continue
        pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=deployed[name])
        for page in pages:
            for ex in page["executions"]:
                if ex["name"] == execution:
                    return ex["executionArn"]
    raise ExecutionNotFound(
        f"no execution named {execution!r} in {', '.join(STATE_MACHINES.values())}: "
        "give its name as `p300 executions` lists it, or its ARN"
    )


def describe(sfn, arn: str) -> dict:
    """``describe_execution`` of ``arn`` with its input and output parsed from JSON."""
    try:
        described = sfn.describe_execution(executionArn=arn)
    except sfn.exceptions.ExecutionDoesNotExist:
        raise ExecutionNotFound(f"no execution has the ARN {arn!r}") from None
    described.pop("ResponseMetadata", None)
    for name in ("input", "output"):
        if described.get(name):
            described[name] = json.loads(described[name])
    return described


def wait_for(
    sfn, arn: str, *, timeout: float, poll_s: float = 0.5, sleep: Callable = time.sleep
) -> dict:
    """`describe` once the execution has left RUNNING; `ExecutionTimeout` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while (described := describe(sfn, arn))["status"] == "RUNNING":
        if time.monotonic() > deadline:
            raise ExecutionTimeout(f"{arn} still RUNNING after {timeout:.0f} s")
        sleep(poll_s)
    return described


def history(sfn, arn: str) -> list[dict]:
    """Every event of the execution's history, oldest first."""
    pages = sfn.get_paginator("get_execution_history").paginate(executionArn=arn)
    return [event for page in pages for event in page["events"]]


def execution_details(
    sfn, execution: str, *, wait: bool = False, timeout: float = 900.0
) -> ExecutionDetails:
    """The execution named ``execution`` (a name or an ARN), after it finished when ``wait``."""
    arn = execution_arn(sfn, execution)
    described = wait_for(sfn, arn, timeout=timeout) if wait else describe(sfn, arn)
    output = described.get("output")
    events = history(sfn, arn)
    return ExecutionDetails(
        described,
        state_runs(events),
        summarize_output(output),
        item_outcomes(output),
        iteration_statuses(events),
    )


def start_execution(sfn, state_machine: str, *, name: str, request: dict) -> str:
    """Start ``state_machine`` (a name) with the JSON input ``request``; its execution ARN."""
    return sfn.start_execution(
        stateMachineArn=state_machine_arn(sfn, state_machine), name=name, input=json.dumps(request)
    )["executionArn"]
