"""Step Functions executions in the cloud state: journaled when they start and when they end,
shown again after a restart as finished executions (`ArchivedExecution`).

LocalStack keeps executions in its store (`sfn_stores`) with the worker that runs them. A record
is written before an execution's worker starts (status RUNNING, no history) and again when the
worker ends (its status, output or error, and every history event). A restart puts an
`ArchivedExecution` in the store for each record: ListExecutions, DescribeExecution,
GetExecutionHistory and DescribeStateMachineForExecution answer as before. One whose last record
says RUNNING was cut off: it is shown ABORTED, and that is journaled.
"""

import datetime
import json
import threading
from types import SimpleNamespace

from localstack.aws.api.stepfunctions import ExecutionStatus, StateMachineType
from localstack.services.stepfunctions.backend.execution import (
    BaseExecutionWorkerCommunication,
    Execution,
)
from localstack.services.stepfunctions.backend.models import sfn_stores
from localstack.utils.patch import Patch

from .history import KILLED_CAUSE, STOPPED_CAUSE, aborted, cut_off_unreported, is_running
from .recorder import Recorder, loaded, record
from .schema import CloudState

KIND = "execution"


class ArchivedExecution(Execution):
    """A finished execution of an earlier run of LocalStack, answering from its record."""

    def __init__(self, data: dict, *, account_id: str, region_name: str):  # no worker to set up
        self.data = data
        describe = data["describe"]
        self.name = describe["name"]
        self.exec_arn = describe["executionArn"]
        self.sm_type = StateMachineType.STANDARD
        self.account_id = account_id
        self.region_name = region_name
        self.state_machine_arn = describe["stateMachineArn"]
        self.state_machine_version_arn = describe.get("stateMachineVersionArn")
        self.state_machine_alias_arn = describe.get("stateMachineAliasArn")
        self.start_date = describe["startDate"]
        self.stop_date = describe.get("stopDate")
        self.exec_status = ExecutionStatus(data["status"])
        self.input_data = json.loads(describe.get("input") or "null")
        self.output = None
        self.error = describe.get("error")
        self.cause = describe.get("cause")
        # What the provider reaches through any execution's worker: no callbacks, no map runs.
        self.exec_worker = SimpleNamespace(
            env=SimpleNamespace(
                callback_pool_manager=SimpleNamespace(notify=lambda **_: False),
                map_run_record_pool_manager=SimpleNamespace(get=lambda _: None, get_all=list),
            )
        )

    def to_describe_output(self):
        return dict(self.data["describe"])

    def to_execution_list_item(self):
        return dict(self.data["list_item"])

    def to_history_output(self):
        return {"events": [dict(event) for event in self.data["events"]]}

    def to_describe_state_machine_for_execution_output(self):
        return dict(self.data["state_machine"])

    def start(self) -> None:
        raise RuntimeError(f"{self.exec_arn} ended in an earlier run of LocalStack")

    def stop(self, stop_date, error, cause) -> None:
        """Nothing runs any more: stopping a finished execution changes nothing, as on AWS."""


class ExecutionJournal:
    """Journals executions as they start and end (see the module docstring)."""

    def __init__(self, recorder: Recorder):
        self.recorder = recorder
        #: Set once LocalStack shuts down: executions it cuts off end as ABORTED, not FAILED.
        self.closed = threading.Event()

    def patches(self) -> list[Patch]:
        journal = self

        def start(original, self: Execution):
            if _journaled(self):
                # Listed from now on: while the record is written, ListExecutions must not
                # show it without a status (LocalStack sets RUNNING only in `start`).
                self.exec_status = ExecutionStatus.RUNNING
                data = _data(self, status=ExecutionStatus.RUNNING, events=[])
                journal.recorder.commit(lambda: [_record(self, data)])
            return original(self)

        def terminated(original, self: BaseExecutionWorkerCommunication):
            original(self)
            execution = self.execution
            if _journaled(execution) and not journal.closed.is_set():
                journal.recorder.commit_or_log(
                    lambda: [_record(execution, _data(execution))],
                    what=f"the end of {execution.exec_arn}",
                )

        return [
            Patch.function(Execution.start, start),
            Patch.function(BaseExecutionWorkerCommunication.terminated, terminated),
        ]

    def cut_off_running(self) -> int:
        """At shutdown: journal every running execution as ABORTED, with its history so far;
        returns how many."""
        self.closed.set()
        now = datetime.datetime.now(tz=datetime.UTC)
        running = [
            execution
            for _, _, store in sfn_stores.iter_stores()
            for execution in list(store.executions.values())
            if _journaled(execution) and execution.exec_status == ExecutionStatus.RUNNING
        ]
        for execution in running:
            data = aborted(_data(execution), cause=STOPPED_CAUSE, at=now)
            self.recorder.commit_or_log(
                lambda e=execution, d=data: [_record(e, d)], what=f"{execution.exec_arn}"
            )
        return len(running)


def restore(recorder: Recorder, previous: CloudState) -> dict:
    """Put every execution of `previous` not in LocalStack's store back as an
    `ArchivedExecution`, those a kill cut off as ABORTED; returns how many, and the executions
    cut off by the end of the previous run (each reported once: that is journaled)."""
    now = datetime.datetime.now(tz=datetime.UTC)
    restored, cut_off = 0, []
    records = [(found, loaded(found)) for found in previous.of_kind(KIND)]
    for found, data in sorted(records, key=lambda pair: pair[1]["describe"]["startDate"]):
        account_id, region, arn = found.ident
        store = sfn_stores[account_id][region]
        if arn in store.executions:
            continue
        if is_running(data):
            data = aborted(data, cause=KILLED_CAUSE, at=now)
        if cut_off_unreported(data):
            data = {**data, "cut_off": True}
            recorder.commit(lambda r=found, d=data: [record(KIND, r.ident, d)])
            cut_off.append({"execution_arn": arn, "state_machine_arn": data["describe"]
                            ["stateMachineArn"], "cause": data["describe"]["cause"]})  # fmt: skip
        store.executions[arn] = ArchivedExecution(data, account_id=account_id, region_name=region)
        restored += 1
    return {"restored": restored, "cut_off": cut_off}


def _journaled(execution: Execution) -> bool:
    return execution.sm_type == StateMachineType.STANDARD and not isinstance(
        execution, ArchivedExecution
    )


def _data(execution: Execution, *, status=None, events=None) -> dict:
    """The record of a live execution; `status` and `events` override its own (a start record
    is written before its worker exists)."""
    status = status or execution.exec_status
    describe = execution.to_describe_output()
    list_item = execution.to_execution_list_item()
    describe["status"] = list_item["status"] = status
    if events is None:
        events = execution.to_history_output()["events"] if execution.exec_worker else []
    return {
        "status": str(status),
        "describe": describe,
        "list_item": list_item,
        "events": events,
        "state_machine": execution.to_describe_state_machine_for_execution_output(),
    }


def _record(execution: Execution, data: dict):
    return record(KIND, (execution.account_id, execution.region_name, execution.exec_arn), data)
