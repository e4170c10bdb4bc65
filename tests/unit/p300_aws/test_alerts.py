"""Alerts: the record, key naming, SNS subject lines and input checks (pure pieces).

Storing and publishing against real S3 and SNS is tested on the local cloud
(tests/integration/monitoring/test_health_e2e.py).
"""

import json

import pytest

from p300_aws.alerts import (
    SUBJECT_MAX_CHARS,
    Alert,
    alert_key,
    check_kind,
    key_stamp,
    list_alerts,
    sns_subject,
    summarize_evidence,
    utc_now,
)

RAISED_AT = "2026-11-22T19:30:05.123456+00:00"


def make_alert(**changes) -> Alert:
    fields = {
        "kind": "health",
        "subject": "champion failing: HTTP 502",
        "message": "The champion route answers 502.",
        "evidence": {"alias": "champion", "status_code": 502, "latency_ms": 12.5},
        "raised_at": RAISED_AT,
    }
    return Alert(**(fields | changes))


def test_an_alert_survives_a_json_round_trip():
    alert = make_alert()
    assert Alert.from_dict(json.loads(json.dumps(alert.to_dict()))) == alert


def test_raised_at_defaults_to_now_in_utc():
    alert = Alert(kind="drift", subject="s", message="m", evidence={})
    assert alert.raised_at.endswith("+00:00")
    assert alert.raised_at <= utc_now()


def test_the_key_names_the_kind_and_sorts_by_time():
    key = alert_key(make_alert(), alert_id="abc123")
    assert key == "alerts/health/20261122T193005.123456Z-abc123.json"
    assert key_stamp(key) == "20261122T193005.123456Z"


def test_keys_of_other_offsets_are_stamped_in_utc():
    alert = make_alert(raised_at="2026-11-22T21:30:05.123456+02:00")
    assert key_stamp(alert_key(alert, alert_id="x")) == "20261122T193005.123456Z"


def test_later_alerts_sort_after_earlier_ones():
    times = ["2026-11-22T09:00:00+00:00", "2026-11-22T10:00:00+00:00", "2026-12-01T00:00:00+00:00"]
    stamps = [key_stamp(alert_key(make_alert(raised_at=t), alert_id="a")) for t in times]
    assert stamps == sorted(stamps)


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("champion failing", "[p300 health] champion failing"),
        ("two\nlines  here", "[p300 health] two lines here"),
        ("drift µV", "[p300 health] drift ?V"),
    ],
)
def test_sns_subjects_are_one_ascii_line(subject, expected):
    assert sns_subject(make_alert(subject=subject)) == expected


def test_long_sns_subjects_are_cut_to_the_sns_limit():
    subject = sns_subject(make_alert(subject="x" * 300))
    assert len(subject) == SUBJECT_MAX_CHARS
    assert subject.endswith("...")


@pytest.mark.parametrize("kind", ["", "Health", "drift/x", "a" * 33, None])
def test_a_kind_that_cannot_be_part_of_a_key_is_refused(kind):
    with pytest.raises(ValueError, match="kind must be 1-32 lower-case"):
        check_kind(kind)
    with pytest.raises(ValueError, match="kind must be"):
        make_alert(kind=kind)


@pytest.mark.parametrize("raised_at", ["2026-11-22T19:30:00", "yesterday", ""])
def test_raised_at_must_be_an_iso_time_with_an_offset(raised_at):
    with pytest.raises(ValueError, match="raised_at must be an ISO-8601 time with a UTC offset"):
        make_alert(raised_at=raised_at)


@pytest.mark.parametrize("limit", [0, -1, 2.5])
def test_list_alerts_refuses_a_bad_limit_before_calling_s3(limit):
    with pytest.raises(ValueError, match=f"limit must be a positive integer or None, got {limit}"):
        list_alerts(None, limit=limit)


def test_list_alerts_refuses_a_bad_kind_before_calling_s3():
    with pytest.raises(ValueError, match="got 'Drift'"):
        list_alerts(None, kind="Drift")


@pytest.mark.parametrize(
    ("evidence", "expected"),
    [
        ({}, ""),
        ({"alias": "champion", "status_code": 502}, "alias=champion, status_code=502"),
        ({"p_value": 0.000123456, "drifted": True}, "p_value=0.000123, drifted=True"),
        (
            {"channels": ["eeg_ch1", "eeg_ch2"], "ks": {"eeg_ch1": 0.3}},
            "channels=[eeg_ch1, eeg_ch2], ks={1 keys}",
        ),
        ({"values": [0.1, 0.2], "names": list("abcde")}, "values=[2 items], names=[5 items]"),
        ({"detail": "two\n  lines", "latency_ms": None}, "detail=two lines, latency_ms=None"),
    ],
)
def test_evidence_is_summarised_on_one_line(evidence, expected):
    assert summarize_evidence(evidence) == expected


def test_long_evidence_summaries_are_cut():
    summary = summarize_evidence({"detail": "x" * 200}, max_chars=40)
    assert len(summary) == 40
    assert summary.endswith("...")


def test_a_too_small_summary_width_is_refused():
    with pytest.raises(ValueError, match="max_chars must be at least 4, got 3"):
        summarize_evidence({}, max_chars=3)
