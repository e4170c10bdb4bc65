import copy

import pytest

from p300_aws.errors import BadEventError
from p300_aws.events import parse_event
from p300_aws.names import LANDING_BUCKET
from p300_aws.planning import (
    SUMMARY_GROUPS,
    CatchUpRequest,
    PlanEvent,
    S3ObjectCreated,
    SummarizeRequest,
    plan_from_event,
    summarize,
    summarize_execution,
)
from tests.fixtures import load_event


def test_plan_from_a_recorded_s3_event_decodes_the_key():
    event = parse_event(PlanEvent, load_event("s3_object_created")).root
    assert plan_from_event(event).model_dump() == {
        "items": [
            {
                "bucket": LANDING_BUCKET,
                "key": "subject_07/session_02/morning run (v2).parquet",
                "study_versions": None,
            }
        ],
        "mode": "event",
    }


@pytest.mark.parametrize(
    ("event", "kind"),
    [
        (load_event("s3_object_created"), S3ObjectCreated),
        (load_event("catch_up"), CatchUpRequest),
        ({"summarize": True, "mode": "event", "results": []}, SummarizeRequest),
    ],
)
def test_each_plan_event_is_recognised(event, kind):
    assert type(parse_event(PlanEvent, event).root) is kind


def _event_with(path: tuple[str, ...], value) -> dict:
    event = copy.deepcopy(load_event("s3_object_created"))
    target = event
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return event


@pytest.mark.parametrize(
    ("event", "match"),
    [
        ({}, "s3_event.source: Field required; s3_event.detail: Field required"),
        ([], "s3_event: Input should be a valid dictionary"),
        ({"catch_up": "yes"}, "catch_up.catch_up: Input should be True, got 'yes'"),
        ({"catch_up": True, "x": 1}, "catch_up.x: Extra inputs are not permitted, got 1"),
        ({"summarize": "yes", "mode": "event", "results": []},
         "summarize.summarize: Input should be True, got 'yes'"),
        (_event_with(("source",), "aws.ec2"),
         "s3_event.source: Input should be 'aws.s3', got 'aws.ec2'"),
        (_event_with(("detail", "bucket", "name"), "p300-raw-data"),
         "s3_event.detail.bucket.name: Input should be 'p300-landing-zone', got 'p300-raw-data'"),
        (_event_with(("detail", "object"), {}), "s3_event.detail.object.key: Field required"),
    ],
)  # fmt: skip
def test_other_events_are_refused_naming_the_field(event, match):
    with pytest.raises(BadEventError, match=match):
        parse_event(PlanEvent, event)


def test_summarize_groups_every_outcome():
    results = [
        {"outcome": "processed", "study": "speller", "subject": "01", "session": "01",
         "features_key": "study=speller/subject=01/session=01/features.parquet"},
        {"outcome": "skipped", "study": "system-a", "subject": "02", "session": "01",
         "features_key": "study=system-a/subject=02/session=01/features.parquet"},
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
        {"study": "speller", "subject": "01", "session": "01",
         "key": "study=speller/subject=01/session=01/features.parquet", "reason": "processed"}
    ]  # fmt: skip
    assert [e["reason"] for e in summary["skipped"]] == ["skipped", "duplicate"]
    assert summary["quarantined"][0]["reason"] == "NO_TARGETS"
    assert summary["failed"] == [
        {"study": None, "subject": None, "session": None, "key": "subject_05/c.parquet",
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
    output = summarize_execution(parse_event(SummarizeRequest, event)).model_dump()
    assert list(output) == ["mode", *SUMMARY_GROUPS, "results"]
    assert output["mode"] == "catch_up"
    assert [e["subject"] for e in output["processed"]] == ["01"]
    assert [e["reason"] for e in output["skipped"]] == ["duplicate"]
    assert output["quarantined"] == output["failed"] == []
    assert output["results"] == results


@pytest.mark.parametrize(
    ("results", "match"),
    [
        (None, "results: Input should be a valid list, got None"),
        ({"outcome": "processed"}, "results: Input should be a valid list, got an object"),
        (["processed"], "results.0: Input should be a valid dictionary, got 'processed'"),
    ],
)
def test_summarize_rejects_results_that_are_not_a_list_of_objects(results, match):
    with pytest.raises(BadEventError, match=match):
        parse_event(PlanEvent, {"summarize": True, "mode": "event", "results": results})
