import copy
import json
from pathlib import Path

import pytest

from p300_aws.errors import BadEventError
from p300_aws.names import LANDING_BUCKET
from p300_aws.planning import (
    SUMMARY_GROUPS,
    is_catch_up,
    is_summary_request,
    plan_from_event,
    summarize,
    summarize_execution,
)

EVENTS = Path(__file__).parent / "events"


def load_event(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def test_plan_from_a_recorded_s3_event_decodes_the_key():
    plan = plan_from_event(load_event("s3_object_created.json"))
    assert plan == {
        "items": [
            {"bucket": LANDING_BUCKET, "key": "subject_07/session_02/morning run (v2).parquet"}
        ],
        "mode": "event",
    }


def test_catch_up_event_is_recognised():
    assert is_catch_up(load_event("catch_up.json"))
    assert not is_catch_up(load_event("s3_object_created.json"))
    assert not is_catch_up({"catch_up": "yes"})


def _event_with(path: tuple[str, ...], value) -> dict:
    event = copy.deepcopy(load_event("s3_object_created.json"))
    target = event
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return event


@pytest.mark.parametrize(
    ("event", "match"),
    [
        ({}, "must be an EventBridge S3 event"),
        ({"catch_up": True}, "must be an EventBridge S3 event"),
        (_event_with(("source",), "aws.ec2"), "source='aws.ec2'"),
        (_event_with(("detail", "bucket", "name"), "p300-raw-data"), "bucket='p300-raw-data'"),
        (_event_with(("detail", "object"), {}), "key=None"),
    ],
)
def test_plan_from_event_rejects_other_events(event, match):
    with pytest.raises(BadEventError, match=match):
        plan_from_event(event)


def test_summarize_groups_every_outcome():
    results = [
        {"outcome": "processed", "subject": "01", "session": "01",
         "features_key": "subject=01/session=01/features.parquet"},
        {"outcome": "skipped", "subject": "02", "session": "01",
         "features_key": "subject=02/session=01/features.parquet"},
        {"outcome": "duplicate", "subject": "03", "session": "01",
         "landing_key": "subject_03/a.parquet", "needs_processing": False},
        {"outcome": "quarantined", "subject": "04", "session": None,
         "landing_key": "subject_04/b.parquet",
         "problems": [{"code": "FLAT_CHANNEL", "severity": "warning", "message": "m"},
                      {"code": "NO_TARGETS", "severity": "error", "message": "m"}]},
        {"outcome": "failed", "error": "TransientError", "cause": "S3 said 503",
         "item": {"bucket": LANDING_BUCKET, "key": "subject_05/c.parquet"}},
    ]  # fmt: skip
    summary = summarize(results)
    assert tuple(summary) == SUMMARY_GROUPS
    assert summary["processed"] == [
        {"subject": "01", "session": "01", "key": "subject=01/session=01/features.parquet",
         "reason": "processed"}
    ]  # fmt: skip
    assert [e["reason"] for e in summary["skipped"]] == ["skipped", "duplicate"]
    assert summary["quarantined"][0]["reason"] == "NO_TARGETS"
    assert summary["failed"] == [
        {"subject": None, "session": None, "key": "subject_05/c.parquet",
         "reason": "TransientError: S3 said 503"}
    ]  # fmt: skip


def test_summarize_nothing():
    assert summarize([]) == {group: [] for group in SUMMARY_GROUPS}


def test_the_execution_output_has_the_groups_and_keeps_the_results():
    results = [
        {"outcome": "processed", "subject": "01", "session": "01", "features_key": "f"},
        {"outcome": "duplicate", "subject": "02", "session": "01", "landing_key": "l"},
    ]
    event = {"summarize": True, "mode": "catch_up", "results": results}
    assert is_summary_request(event)
    output = summarize_execution(event)
    assert list(output) == ["mode", *SUMMARY_GROUPS, "results"]
    assert output["mode"] == "catch_up"
    assert [e["subject"] for e in output["processed"]] == ["01"]
    assert [e["reason"] for e in output["skipped"]] == ["duplicate"]
    assert output["quarantined"] == output["failed"] == []
    assert output["results"] == results


@pytest.mark.parametrize("results", [None, {"outcome": "processed"}, ["processed"]])
def test_summarize_execution_rejects_results_that_are_not_a_list_of_objects(results):
    with pytest.raises(BadEventError, match="'results' must be a list of objects"):
        summarize_execution({"summarize": True, "mode": "event", "results": results})


@pytest.mark.parametrize("event", [{"catch_up": True}, {"summarize": "yes"}, {}])
def test_only_summarize_true_asks_for_the_summary(event):
    assert not is_summary_request(event)
