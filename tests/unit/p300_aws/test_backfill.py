import json

import pytest

from p300_aws.backfill import (
    FIRST_REASONS,
    BackfillReportRequest,
    build_report,
    item_results,
)
from p300_aws.errors import BadEventError
from p300_aws.events import parse_event
from p300_aws.planning import PlanEvent

RAW = "study=s1/subject=S{:03d}/session=1/eeg.parquet"


def request(tolerance: float = 5) -> BackfillReportRequest:
    return BackfillReportRequest(
        backfill_report=True,
        study="s1",
        tolerated_failure_percentage=tolerance,
        result_writer={"Bucket": "p300-backfill", "Key": "s1/run/results/map/manifest.json"},
        report_key="s1/run/report.json",
    )


def processed(i: int) -> dict:
    return {"outcome": "processed", "study": "s1", "subject": f"S{i:03d}"}


def failed(i: int) -> dict:
    item = {"raw_key": RAW.format(i), "study_version": 1}
    return {"outcome": "failed", "error": "MissingObjectError", "cause": f"no {i}", "item": item}


def test_item_results_flatten_every_childs_outputs_and_a_failed_childs_items():
    batch = {"BatchInput": {}, "Items": [{"raw_key": "k4"}, {"raw_key": "k5"}]}
    files = {
        "ok.json": [
            {"Status": "SUCCEEDED", "Output": json.dumps([processed(1), failed(2)])},
            {"Status": "SUCCEEDED", "Output": json.dumps([processed(3)])},
        ],
        "bad.json": [
            {"Status": "FAILED", "Error": "States.Timeout", "Cause": "slow",
             "Input": json.dumps(batch)},
            {"Status": "FAILED", "Name": "7"},
        ],
    }  # fmt: skip
    manifest = {"ResultFiles": {"SUCCEEDED": [{"Key": "ok.json"}], "FAILED": [{"Key": "bad.json"}],
                                "PENDING": []}}  # fmt: skip
    results = item_results(manifest, files.__getitem__)
    assert [r.get("outcome") for r in results] == ["processed", "failed", "processed",
                                                   "failed", "failed", "failed"]  # fmt: skip
    assert results[3] == {"outcome": "failed", "error": "States.Timeout", "cause": "slow",
                          "item": {"raw_key": "k4"}}  # fmt: skip
    assert results[5]["item"] == {"child": "7"} and results[5]["error"] == "FAILED"


def test_item_results_of_a_manifest_without_files_is_empty():
    assert item_results({"ResultFiles": {}}, lambda key: pytest.fail(key)) == []


def test_failures_within_the_tolerance_are_reported_and_do_not_fail():
    results = [processed(i) for i in range(195)] + [failed(i) for i in range(195, 200)]
    report = build_report(request(tolerance=5), results)
    assert report.n_items == 200
    assert report.outcomes == {"failed": 5, "processed": 195}
    assert report.failed_percentage == pytest.approx(2.5)
    assert [f.raw_key for f in report.failed] == [RAW.format(i) for i in range(195, 200)]
    assert report.failed[0].reason == "MissingObjectError: no 195"
    assert report.failure_message is None


def test_failures_above_the_tolerance_give_the_count_and_the_first_reasons():
    results = [processed(i) for i in range(8)] + [failed(i) for i in range(8, 12)]
    message = build_report(request(tolerance=10), results).failure_message
    assert message.startswith("4 of 12 items of study s1 failed (33.3 % > ")
    assert "tolerated_failure_percentage 10 %" in message
    assert "s3://p300-backfill/s1/run/report.json" in message
    assert message.count("MissingObjectError") == FIRST_REASONS
    assert RAW.format(8) in message and RAW.format(11) not in message


def test_zero_tolerance_fails_on_one_failure_and_nothing_to_do_passes():
    assert build_report(request(tolerance=0), [failed(1)]).failure_message
    empty = build_report(request(tolerance=0), [])
    assert empty.failure_message is None and empty.failed_percentage == 0


def test_the_plan_function_recognises_a_backfill_report_request():
    event = request().model_dump(mode="json")
    assert type(parse_event(PlanEvent, event).root) is BackfillReportRequest


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"tolerated_failure_percentage": 101}, "tolerated_failure_percentage"),
        ({"tolerated_failure_percentage": "5"}, "tolerated_failure_percentage"),
        ({"result_writer": {"Bucket": "b"}}, "Key"),
        ({"report_key": ""}, "report_key"),
    ],
)
def test_a_malformed_report_request_is_refused_naming_the_field(change, match):
    event = request().model_dump(mode="json") | change
    with pytest.raises(BadEventError, match=match):
        parse_event(PlanEvent, event)
