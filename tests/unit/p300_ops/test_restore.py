"""What `up` says after restoring the cloud state, and what it does about what was lost."""

import json
from datetime import UTC, datetime

import pytest

from p300_ops.localcloud.restore import (
    cut_off_ingest_runs,
    lost_serving_aliases,
    report_lines,
    start_catch_up,
)

SM = "arn:aws:states:us-east-1:000000000000:stateMachine:"
EX = "arn:aws:states:us-east-1:000000000000:execution:"


def model(version: str) -> str:
    return json.dumps({"model": "P300-Classifier", "model_version": version})


def alias_entry(name, status, weights, **extra):
    return {"alias": name, "status": status, "version": next(iter(weights)), "weights": weights,
            "descriptions": {v: model(v) for v in weights}, **extra}  # fmt: skip


REPORT = {
    "archives_deleted": {"objects": 14, "bytes": 190 * 2**20},
    "recovery_notes": ["journal-3.log: a torn last record (41 bytes) ignored"],
    "ids": [
        {
            "resource": "rest_api",
            "name": "p300-api",
            "id": "abc",
            "previous_id": "abc",
            "kept": True,
        },
        {
            "resource": "usage_plan",
            "name": "p300-uploads",
            "id": "new",
            "previous_id": "old",
            "kept": False,
        },
    ],
    "api_keys": [{"id": "k1", "name": "p300-upload-key", "status": "kept its value"}],
    "functions": [
        {"function": "p300-train", "status": "deployed with the stack", "aliases": []},
        {
            "function": "p300-predict",
            "status": "restored",
            "aliases": [
                alias_entry("champion", "restored", {"1": 0.7, "2": 0.3}),
                alias_entry(
                    "challenger",
                    "not restored",
                    {"2": 1.0},
                    reason="version 2: its code archive s3://b/k is missing",
                ),
            ],
        },
    ],
    "executions": {
        "restored": 12,
        "cut_off": [
            {
                "execution_arn": f"{EX}p300-ingest-and-process:run-1",
                "state_machine_arn": f"{SM}p300-ingest-and-process",
                "cause": "killed",
            },
            {
                "execution_arn": f"{EX}p300-train:train-1",
                "state_machine_arn": f"{SM}p300-train",
                "cause": "killed",
            },
        ],
    },
    "alarms": [
        {
            "alarm": "p300-drift-detected",
            "state": "ALARM",
            "since": "2026-12-01 10:00:00",
            "status": "restored",
        },
        {"alarm": "gone", "state": "OK", "since": "x", "status": "not deployed"},
    ],
}


def test_the_report_says_what_came_back_and_what_did_not():
    lines = report_lines(REPORT)
    assert lines == [
        "cloud state: journal-3.log: a torn last record (41 bytes) ignored",
        "REST API p300-api kept its id abc",
        "usage plan p300-uploads has the new id new (it was old, which another usage plan holds)",
        "API key p300-upload-key (k1) kept its value",
        "p300-train: deployed with the stack",
        "p300-predict:champion serves version 1 (P300-Classifier v1) 70%, version 2 "
        "(P300-Classifier v2) 30% again, as published (a canary mid-way stays mid-way: "
        "`p300 promote` finishes it, `p300 rollback` undoes it)",
        "p300-predict:challenger served version 2 (P300-Classifier v2) 100%; it could not be "
        "restored as published: version 2: its code archive s3://b/k is missing",
        "12 Step Functions executions are back",
        "execution run-1 of p300-ingest-and-process was running when LocalStack stopped: it is "
        "shown ABORTED",
        "execution train-1 of p300-train was running when LocalStack stopped: it is shown ABORTED",
        "alarm p300-drift-detected is ALARM (since 2026-12-01 10:00:00)",
        "deleted 14 Lambda code archives of the last run that nothing uses any more (190 MiB)",
    ]


def test_a_cloud_without_a_past_says_nothing():
    assert report_lines({"ids": [], "api_keys": [], "functions": [], "alarms": [],
                         "executions": {"restored": 0, "cut_off": []}}) == []  # fmt: skip


class Lambda:
    """The Lambda API's get_alias over the aliases that exist now."""

    class exceptions:
        class ResourceNotFoundException(Exception):
            pass

    def __init__(self, existing: set[str]):
        self.existing = existing

    def get_alias(self, FunctionName, Name):
        if Name not in self.existing:
            raise self.exceptions.ResourceNotFoundException(Name)
        return {"Name": Name}


def test_an_alias_not_restored_is_republished_from_the_model_version_it_served():
    lost = lost_serving_aliases(REPORT, Lambda(existing={"champion"}))
    assert [(entry["alias"], entry["source"]) for entry in lost] == [("challenger", "2")]
    assert lost[0]["reason"] == "version 2: its code archive s3://b/k is missing"


def test_an_alias_that_exists_again_is_left_alone():
    assert lost_serving_aliases(REPORT, Lambda(existing={"champion", "challenger"})) == []


def test_without_a_recorded_model_the_mlflow_alias_of_the_same_name_is_the_source():
    entry = alias_entry("challenger", "not restored", {"4": 1.0}, reason="r")
    entry["descriptions"] = {}
    report = {"functions": [{"function": "p300-predict", "status": "restored",
                             "aliases": [entry]}]}  # fmt: skip
    assert lost_serving_aliases(report, Lambda(existing=set()))[0]["source"] == "challenger"


def test_only_cut_off_ingest_runs_call_for_a_catch_up():
    assert cut_off_ingest_runs(REPORT) == [f"{EX}p300-ingest-and-process:run-1"]
    assert cut_off_ingest_runs({"executions": {"restored": 3, "cut_off": []}}) == []


class StepFunctions:
    def __init__(self):
        self.started = []

    def get_paginator(self, name):
        assert name == "list_state_machines"
        machines = [{"name": "p300-ingest-and-process",
                     "stateMachineArn": f"{SM}p300-ingest-and-process"}]  # fmt: skip
        return type("Pages", (), {"paginate": lambda self: [{"stateMachines": machines}]})()

    def start_execution(self, **kwargs):
        self.started.append(kwargs)
        return {"executionArn": f"{EX}x"}


@pytest.mark.parametrize("moment", [datetime(2026, 12, 1, 10, 4, 5, tzinfo=UTC)])
def test_the_catch_up_run_gets_the_hourly_rule_s_input_and_a_dated_name(moment):
    sfn = StepFunctions()
    name = start_catch_up(sfn, now=lambda: moment)
    assert name == "catch-up-after-restart-20261201-100405"
    (started,) = sfn.started
    assert started["stateMachineArn"] == f"{SM}p300-ingest-and-process"
    assert started["name"] == name and json.loads(started["input"]) == {"catch_up": True}
