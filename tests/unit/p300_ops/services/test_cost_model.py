"""`p300 cost`'s arithmetic (`p300_ops.services.cost_model`): REPORT lines and the projection."""

import importlib.util
from pathlib import Path

import pytest

from p300_ops.services.cost_model import (
    PREDICTION,
    SUBJECT,
    TRAINING,
    ExecutionUsage,
    FunctionUsage,
    Invocation,
    Usage,
    Workload,
    express_usd,
    log_event_bytes,
    memory_cost_factor,
    parse_report_line,
    project,
    suggested_memory_mb,
    unit_cost,
)
from p300_ops.services.cost_prices import PRICES

BOOTSTRAP = (
    Path(__file__).parents[4] / "localstack-extension/p300_localstack/lambda_runtime/bootstrap.py"
)

# --- REPORT lines -------------------------------------------------------------------------------

#: As our Lambda runtime writes them (bootstrap.py `report_line`: Init Duration before Duration on
#: a cold start, a trailing tab) and as AWS does (Init Duration last), and the executor's line for
#: an environment killed out of memory (Status and Error Type after the memory).
OURS_COLD = (
    "REPORT RequestId: 7f7a5c43-0b7e-4d47-9d2c-1a2b3c4d5e6f\tInit Duration: 412.33 ms\t"
    "Duration: 1203.45 ms\tBilled Duration: 1204 ms\tMemory Size: 2048 MB\t"
    "Max Memory Used: 312 MB\t"
)
AWS_COLD = (
    "REPORT RequestId: 3604209a-e9a3-11e6-939a-754dd98c7be3\tDuration: 12.34 ms\t"
    "Billed Duration: 13 ms\tMemory Size: 128 MB\tMax Memory Used: 18 MB\t"
    "Init Duration: 160.69 ms\t"
)
OUT_OF_MEMORY = (
    "REPORT RequestId: 0c9e\tDuration: 5021.70 ms\tBilled Duration: 5022 ms\tMemory Size: 256 MB\t"
    "Max Memory Used: 256 MB\tStatus: error\tError Type: Runtime.OutOfMemory"
)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            OURS_COLD,
            Invocation("7f7a5c43-0b7e-4d47-9d2c-1a2b3c4d5e6f", 1203.45, 1204, 2048, 312, 412.33),
        ),
        (AWS_COLD, Invocation("3604209a-e9a3-11e6-939a-754dd98c7be3", 12.34, 13, 128, 18, 160.69)),
        (OUT_OF_MEMORY, Invocation("0c9e", 5021.70, 5022, 256, 256)),
        (
            "REPORT RequestId: w\tDuration: 8.00 ms\tBilled Duration: 8 ms\tMemory Size: 1024 MB\t"
            "Max Memory Used: 90 MB\t\n",
            Invocation("w", 8.0, 8, 1024, 90),
        ),
    ],
)
def test_report_lines_are_parsed_in_either_field_order(line, expected):
    assert parse_report_line(line) == expected


def test_the_runtimes_own_report_line_parses():
    spec = importlib.util.spec_from_file_location("lambda_bootstrap", BOOTSTRAP)
    bootstrap = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bootstrap)
    line = bootstrap.report_line("abc-123", 250.5, 1500.25)
    parsed = parse_report_line(line)
    assert (parsed.request_id, parsed.duration_ms, parsed.init_ms) == ("abc-123", 250.5, 1500.25)
    assert parsed.billed_ms == 251 and parsed.max_memory_mb > 0
    assert parse_report_line(bootstrap.report_line("warm", 3.0, None)).init_ms == 0.0


@pytest.mark.parametrize(
    "line",
    [
        "START RequestId: 7f7a Version: 3",
        "END RequestId: 7f7a",
        "",
        "[INFO] REPORT sent",
        "2026-12-07T18:00:00Z 7f7a Task timed out after 1.00 seconds",
    ],
)
def test_other_log_lines_are_not_invocations(line):
    assert parse_report_line(line) is None


def test_a_report_line_without_a_field_is_refused_naming_it():
    line = "REPORT RequestId: x\tDuration: 5.00 ms\tBilled Duration: 5 ms\tMax Memory Used: 9 MB"
    with pytest.raises(ValueError, match=r"\['Memory Size'\] missing in 'REPORT RequestId: x"):
        parse_report_line(line)


def test_a_report_field_that_is_not_a_number_is_refused_naming_it():
    line = "REPORT RequestId: x\tDuration: fast\tBilled Duration: 5 ms\tMemory Size: 128 MB\t"
    line += "Max Memory Used: 9 MB"
    with pytest.raises(ValueError, match=r"field 'Duration' must be a number .* got 'fast'"):
        parse_report_line(line)


def test_init_is_billed_with_the_duration_rounded_up_to_the_millisecond():
    cold = Invocation("c", duration_ms=2999.5, billed_ms=3000, memory_mb=2048, max_memory_mb=1,
                      init_ms=1000.0)  # fmt: skip
    assert cold.billable_ms == 4000
    assert cold.gb_s == pytest.approx(8.0)  # 2 GB × 4 s


def test_a_log_event_is_billed_with_26_bytes_of_overhead():
    assert log_event_bytes("héllo") == 6 + 26  # UTF-8 bytes, not characters


# --- The projection, against a hand-worked example --------------------------------------------


def _invocations(n: int, *, duration_ms: float, memory_mb: int, init_ms: float = 0.0):
    return tuple(
        Invocation(f"r{i}", duration_ms, duration_ms, memory_mb, 0, init_ms) for i in range(n)
    )


@pytest.fixture
def usage() -> Usage:
    preprocess = FunctionUsage(
        function="p300-preprocess",
        activity=SUBJECT,
        memory_mb=2048,
        architecture="x86_64",
        invocations=(
            Invocation("a", 2999.5, 3000, 2048, 700, init_ms=1000.0),
            Invocation("b", 2000.0, 2000, 2048, 650),
        ),
        log_bytes=1_048_576,
    )
    upload_url = FunctionUsage(
        "p300-upload-url", SUBJECT, 128, "x86_64", _invocations(1, duration_ms=100, memory_mb=128),
        log_bytes=0, api_fronted=True,
    )  # fmt: skip
    predict = FunctionUsage(
        "p300-predict", PREDICTION, 1024, "x86_64", _invocations(4, duration_ms=50, memory_mb=1024),
        log_bytes=0, api_fronted=True,
    )  # fmt: skip
    ingest_run = ExecutionUsage("p300-ingest-and-process", SUBJECT, "SUCCEEDED", 40, 30.0)
    return Usage(
        functions=(preprocess, upload_url, predict),
        executions=(ingest_run,),
        s3_requests={SUBJECT: (10, 100), "other": (1000, 1000)},
        stored_bytes=2 * 1024**3,
        units={SUBJECT: 2, PREDICTION: 4},
    )


WORKLOAD = Workload(
    subjects_per_month=100,
    trainings_per_month=0,
    predictions_per_month=1_000_000,
    probes_per_month=0,
)


def test_the_bill_matches_a_hand_worked_example(usage):
    """Worked by hand with the us-east-1 prices of `cost_prices`:

    Lambda ($0.20 per million requests, $0.0000166667 per GB-s on x86_64):
      preprocess, 2048 MB = 2 GB: a cold call, init 1000 ms + 2999.5 ms → 4000 ms → 8 GB-s;
        a warm call of 2000 ms → 4 GB-s; 12 GB-s in all:
        2 × 0.0000002 + 12 × 0.0000166667 = 0.0000004 + 0.0002000004 = 0.0002004004
      upload URL, 128 MB, 100 ms → 0.0125 GB-s: 0.0000002 + 0.0125 × 0.0000166667 = 0.00000040833375
      predict, 1024 MB, 4 × 50 ms → 0.2 GB-s: 4 × 0.0000002 + 0.2 × 0.0000166667 = 0.00000413334
    Per subject (2 processed):
      Lambda          (0.0002004004 + 0.00000040833375) / 2 = 0.000100404366875
      Step Functions  40 transitions × $0.000025 / 2         = 0.0005
      API Gateway     1 upload-URL request × $0.0000035 / 2   = 0.00000175
      S3              (10 × $0.000005 + 100 × $0.0000004) / 2 = 0.000045  (the "other" requests
                      of deployments and CLI reads are nobody's unit)
      Logs            1 MiB = 1/1024 GB × $0.50 / 2           = 0.000244140625
      total                                                   = 0.000891294991875  (≤ $0.001)
    Per prediction (4 requests): 0.00000413334 / 4 + $0.0000035 = 0.000004533335
      → $4.533335 per million behind REST, $2.033335 behind HTTP ($1.00 per million).
    A month of 100 subjects and 1,000,000 predictions:
      subjects 100 × 0.000891294991875 = 0.0891294991875
      predictions 1e6 × 0.000004533335 = 4.533335
      S3 storage: 2 GiB / 2 subjects × 100 = 100 GB × $0.023 = 2.3
      total 6.9224644991875
    """
    report = project(usage, WORKLOAD)
    subject = report.unit_costs[SUBJECT]
    assert subject.lambda_usd == pytest.approx(0.000100404366875, rel=1e-9)
    assert subject.step_functions_usd == pytest.approx(0.0005, rel=1e-9)
    assert subject.api_usd == pytest.approx(0.00000175, rel=1e-9)
    assert subject.s3_usd == pytest.approx(0.000045, rel=1e-9)
    assert subject.logs_usd == pytest.approx(0.000244140625, rel=1e-9)
    assert subject.total_usd == pytest.approx(0.000891294991875, rel=1e-9)
    assert report.per_million_predictions_rest == pytest.approx(4.533335, rel=1e-9)
    assert report.per_million_predictions_http == pytest.approx(2.033335, rel=1e-9)
    assert report.monthly_usd == pytest.approx(
        {"subject ×100": 0.0891294991875, "prediction ×1,000,000": 4.533335,
         "S3 storage added in a month": 2.3}, rel=1e-9
    )  # fmt: skip
    assert report.monthly_total_usd == pytest.approx(6.9224644991875, rel=1e-9)
    assert report.targets["per_subject"]["met"] and report.targets["per_million_predictions"]["met"]


def test_recommendations_match_the_hand_worked_example(usage):
    """By hand, for a month of `WORKLOAD` (50 × the measured subjects, 250,000 × the predictions):

    Express ingest: 30.0 s × 64 MB = 1.875 GB-s × $0.00001667 + $0.000001 = 0.00003225625 per
      execution, against 40 × $0.000025 = 0.001 as Standard: (0.001 − 0.00003225625) × 50
      = 0.0483871875 a month.
    preprocess memory: Max Memory Used 700 MB × 1.25 = 875 → 896 MB (64 MB steps); below 1,769
      MB a single thread slows by 1769/896, so GB-s × 896/2048 × 1769/896 = 1769/2048
      = 0.86376953125; its GB-s cost a month, 12 × 0.0000166667 × 50 = 0.01000002, falls by
      1 − 0.86376953125: 0.001362307... a month.
    arm64: 20 % of every x86 GB-s a month: subjects (12 + 0.0125) GB-s × 50, predictions
      0.2 GB-s × 250,000, × (0.0000166667 − 0.0000133334).
    HTTP API: (1 × 50 + 4 × 250,000) requests × $0.0000025 = 2.500125.
    """
    found = {r.change.split(" (")[0]: r for r in project(usage, WORKLOAD).recommendations}
    express = found["state machine p300-ingest-and-process as Express"]
    assert "could be Express" in express.change
    assert express.saving_usd_month == pytest.approx(0.0483871875, rel=1e-9)
    memory = found["p300-preprocess: memory 2048 → 896 MB"]
    assert memory.saving_usd_month == pytest.approx(0.01000002 * (1 - 0.86376953125), rel=1e-9)
    arm = found["every function on arm64"]
    arm_gb_s = (12 + 0.0125) * 50 + 0.2 * 250_000
    assert arm.saving_usd_month == pytest.approx(arm_gb_s * (0.0000166667 - 0.0000133334), rel=1e-9)
    http = found["HTTP APIs instead of REST APIs"]
    assert http.saving_usd_month == pytest.approx((50 + 1_000_000) * 0.0000025, rel=1e-9)


def test_a_long_execution_cannot_be_express_and_saves_nothing(usage):
    long = ExecutionUsage("p300-train", TRAINING, "SUCCEEDED", 12, 301.0)
    slow = Usage(**{**vars(usage), "executions": (long,), "units": {**usage.units, TRAINING: 1}})
    (express,) = [r for r in project(slow, WORKLOAD).recommendations if "p300-train" in r.change]
    assert "cannot be Express: the longest execution took 301 s (> 300 s)" in express.change
    assert express.saving_usd_month == 0.0


def test_provisioned_environments_are_billed_around_the_clock(usage):
    """1 environment × 3008 MB = 2.9375 GB × 2,628,000 s × $0.0000041667 = 32.165..."""
    train = FunctionUsage("p300-train", TRAINING, 3008, "x86_64", (), 0, provisioned=1)
    warm = Usage(**{**vars(usage), "functions": (*usage.functions, train)})
    report = project(warm, WORKLOAD)
    expected = 2.9375 * 730 * 3600 * 0.0000041667
    assert report.monthly_usd["p300-train provisioned ×1"] == pytest.approx(expected, rel=1e-9)
    assert report.recommendations[0].saving_usd_month == pytest.approx(expected, rel=1e-9)


def test_a_unit_the_run_never_made_is_refused_naming_it(usage):
    with pytest.raises(ValueError, match=r"the run made no training \(units must be > 0, got 0\)"):
        unit_cost(usage, TRAINING)


@pytest.mark.parametrize(
    ("max_used", "suggested"), [(0, 128), (100, 128), (700, 896), (973, 1280), (2400, 3008)]
)
def test_suggested_memory_has_25_percent_headroom_in_64_mb_steps(max_used, suggested):
    assert suggested_memory_mb(max_used) == suggested


@pytest.mark.parametrize(
    ("configured", "suggested", "factor"),
    [(3008, 1792, 1792 / 3008), (3008, 1280, 1769 / 3008), (512, 256, 1.0), (2048, 2048, 1.0)],
)
def test_memory_below_a_full_vcpu_saves_nothing_for_one_thread(configured, suggested, factor):
    assert memory_cost_factor(configured, suggested) == pytest.approx(factor)


def test_express_bills_100_ms_steps_of_64_mb():
    run = ExecutionUsage("m", SUBJECT, "SUCCEEDED", 10, 0.01)
    assert express_usd(run) == pytest.approx(1e-6 + 0.1 * 0.0625 * PRICES.sfn_express_per_gb_s)


def test_a_run_that_made_nothing_has_no_unit_costs_and_no_targets(usage):
    idle = Usage(**{**vars(usage), "units": {}})
    report = project(idle, WORKLOAD)
    assert report.unit_costs == {} and report.targets == {}
    assert list(report.monthly_usd) == []
