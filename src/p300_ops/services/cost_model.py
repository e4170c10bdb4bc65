"""What a measured run of the platform would cost on AWS: pure arithmetic, no I/O.

`p300_ops.services.cost` measures a run on the local cloud (`Usage`): every Lambda invocation's
REPORT line, every Step Functions execution's state transitions and duration, the S3 requests
and bytes stored, the bytes logged. This module prices it with `cost_prices.PRICES` and divides
it into units: a subject processed, a training, a prediction; then projects a month of a stated
`Workload` and what would lower the bill.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from p300_ops.services.cost_prices import (
    GB,
    LAMBDA_FULL_VCPU_MB,
    LAMBDA_MIN_MEMORY_MB,
    LOG_EVENT_OVERHEAD_BYTES,
    PRICES,
    SECONDS_PER_MONTH,
    SFN_EXPRESS_MAX_S,
    SFN_EXPRESS_MEMORY_CHUNK_MB,
    Prices,
)

#: What each unit of work is made of: its Lambda functions and its state machine.
SUBJECT, TRAINING, PREDICTION, MONITORING = "subject", "training", "prediction", "monitoring"
ACTIVITIES = (SUBJECT, TRAINING, PREDICTION, MONITORING)
#: Targets of issue #15 (USD).
TARGET_PER_SUBJECT = 0.001
TARGET_PER_MILLION_PREDICTIONS = 5.0
#: Memory suggested = the largest Max Memory Used × this headroom, in 64 MB steps.
MEMORY_HEADROOM = 1.25

_REPORT_PREFIX = "REPORT RequestId:"
_REPORT_FIELDS = {
    "Duration": "duration_ms",
    "Billed Duration": "billed_ms",
    "Memory Size": "memory_mb",
    "Max Memory Used": "max_memory_mb",
    "Init Duration": "init_ms",
}
_REQUIRED_FIELDS = ("Duration", "Billed Duration", "Memory Size", "Max Memory Used")


@dataclass(frozen=True)
class Invocation:
    """One Lambda invocation as its REPORT line states it (ms, MB)."""

    request_id: str
    duration_ms: float
    billed_ms: float
    memory_mb: int
    max_memory_mb: int
    init_ms: float = 0.0

    @property
    def billable_ms(self) -> int:
        """What AWS bills: init (billed since 2025-08-01) plus duration, rounded up to 1 ms."""
        return math.ceil(self.init_ms + self.duration_ms)

    @property
    def gb_s(self) -> float:
        """Billed GB-seconds: configured memory (MB / 1024) × billable seconds."""
        return self.memory_mb / 1024 * self.billable_ms / 1000


def parse_report_line(line: str) -> Invocation | None:
    """The invocation a Lambda ``REPORT`` log line describes; None for any other line.

    Fields are tab-separated ``Name: value unit`` pairs in any order (AWS puts ``Init
    Duration`` last, our runtime before ``Duration``); unknown fields (``Status``, ``Error
    Type``, ``Restore Duration``) are ignored.

    Raises
    ------
    ValueError
        A REPORT line without one of Duration, Billed Duration, Memory Size, Max Memory Used,
        or with a value that is not a number, naming the field and the line.
    """
    text = line.strip()
    if not text.startswith(_REPORT_PREFIX):
        return None
    fields = {}
    for part in text.split("\t"):
        name, sep, value = part.partition(":")
        if sep:
            fields[name.strip()] = value.strip()
    missing = [name for name in _REQUIRED_FIELDS if name not in fields]
    if missing:
        raise ValueError(
            f"REPORT line must have {list(_REQUIRED_FIELDS)}: {missing} missing in {line!r}"
        )
    values = {}
    for name, attribute in _REPORT_FIELDS.items():
        if name not in fields:
            continue
        number = fields[name].split()[0] if fields[name] else ""
        try:
            values[attribute] = float(number)
        except ValueError:
            raise ValueError(
                f"REPORT field {name!r} must be a number with its unit, got {fields[name]!r} "
                f"in {line!r}"
            ) from None
    return Invocation(
        request_id=fields["REPORT RequestId"],
        duration_ms=values["duration_ms"],
        billed_ms=values["billed_ms"],
        memory_mb=int(values["memory_mb"]),
        max_memory_mb=int(values["max_memory_mb"]),
        init_ms=values.get("init_ms", 0.0),
    )


def log_event_bytes(message: str) -> int:
    """Bytes CloudWatch Logs bills for one event: its UTF-8 message plus 26."""
    return len(message.encode()) + LOG_EVENT_OVERHEAD_BYTES


@dataclass(frozen=True)
class FunctionUsage:
    """One Lambda function's measured invocations and logs, and its configuration:
    ``provisioned`` environments kept warm, ``api_fronted`` when API Gateway invokes it."""

    function: str
    activity: str
    memory_mb: int
    architecture: str
    invocations: tuple[Invocation, ...]
    log_bytes: int
    provisioned: int = 0
    api_fronted: bool = False

    @property
    def gb_s(self) -> float:
        return sum(i.gb_s for i in self.invocations)

    @property
    def max_memory_used_mb(self) -> int:
        return max((i.max_memory_mb for i in self.invocations), default=0)

    def compute_usd(self, prices: Prices = PRICES, *, architecture: str | None = None) -> float:
        """Requests and GB-seconds of the measured invocations, on ``architecture`` (default
        the function's own)."""
        price = prices.lambda_.per_gb_s[architecture or self.architecture]
        return len(self.invocations) * prices.lambda_.per_request + self.gb_s * price

    def logs_usd(self, prices: Prices = PRICES) -> float:
        return self.log_bytes / GB * prices.logs_per_gb_ingested

    def provisioned_usd_month(self, prices: Prices = PRICES) -> float:
        """Its provisioned environments, kept around the clock for a month."""
        gb_s = self.provisioned * self.memory_mb / 1024 * SECONDS_PER_MONTH
        return gb_s * prices.lambda_.provisioned_per_gb_s[self.architecture]


@dataclass(frozen=True)
class ExecutionUsage:
    """One Step Functions execution: its state transitions (retries included) and duration."""

    state_machine: str
    activity: str
    status: str
    transitions: int
    duration_s: float


@dataclass(frozen=True)
class Usage:
    """Everything measured in one run on the local cloud.

    ``s3_requests`` maps an activity (or ``other``: deployments, CLI reads outside any
    execution) to its (tier 1, tier 2) request counts; ``units`` maps each activity to how many
    units the run made: subjects processed, trainings, predictions, health probes.
    """

    functions: tuple[FunctionUsage, ...]
    executions: tuple[ExecutionUsage, ...]
    s3_requests: Mapping[str, tuple[int, int]]
    stored_bytes: int
    units: Mapping[str, int]
    express_compatible: Mapping[str, bool] = field(default_factory=dict)


@dataclass(frozen=True)
class Workload:
    """A month of a lab's use: the projection's assumption, stated with every figure."""

    subjects_per_month: int = 200
    trainings_per_month: int = 8
    predictions_per_month: int = 1_000_000
    probes_per_month: int = 43_800  # the health probe's rate(1 minute), 730 h

    def units(self) -> dict[str, int]:
        return {
            SUBJECT: self.subjects_per_month,
            TRAINING: self.trainings_per_month,
            PREDICTION: self.predictions_per_month,
            MONITORING: self.probes_per_month,
        }


@dataclass(frozen=True)
class UnitCost:
    """USD of one unit of an activity, by service."""

    activity: str
    measured_units: int
    lambda_usd: float
    step_functions_usd: float
    api_usd: float
    s3_usd: float
    logs_usd: float

    @property
    def total_usd(self) -> float:
        return (
            self.lambda_usd + self.step_functions_usd + self.api_usd + self.s3_usd + self.logs_usd
        )


@dataclass(frozen=True)
class Recommendation:
    """A change, what was measured that supports it, and what it saves a month (USD)."""

    change: str
    evidence: str
    saving_usd_month: float


@dataclass(frozen=True)
class CostReport:
    """The run's unit costs, the month of `workload`, the targets and the recommendations, and
    the ``usage`` they were computed from."""

    unit_costs: dict[str, UnitCost]
    per_million_predictions_rest: float
    per_million_predictions_http: float
    workload: Workload
    monthly_usd: dict[str, float]
    recommendations: list[Recommendation]
    usage: Usage

    @property
    def monthly_total_usd(self) -> float:
        return sum(self.monthly_usd.values())

    @property
    def targets(self) -> dict[str, dict]:
        """Issue #15's targets against what the run measured (a unit it did not make is left
        out)."""
        measured = {}
        if SUBJECT in self.unit_costs:
            measured["per_subject"] = (self.unit_costs[SUBJECT].total_usd, TARGET_PER_SUBJECT)
        if PREDICTION in self.unit_costs:
            measured["per_million_predictions"] = (
                self.per_million_predictions_rest,
                TARGET_PER_MILLION_PREDICTIONS,
            )
        return {
            name: {"target_usd": target, "usd": usd, "met": usd <= target}
            for name, (usd, target) in measured.items()
        }


def api_requests(usage: Usage, activity: str) -> int:
    """Requests an activity sent through API Gateway: one per invocation of its API-fronted
    functions (proxy integrations: one request, one invocation)."""
    return sum(
        len(f.invocations) for f in usage.functions if f.activity == activity and f.api_fronted
    )


def unit_cost(
    usage: Usage, activity: str, prices: Prices = PRICES, *, api_price: float | None = None
) -> UnitCost:
    """USD of one unit of ``activity``: everything the run spent on it divided by its units.

    Raises ValueError when the run made no unit of ``activity``.
    """
    units = usage.units.get(activity, 0)
    if units <= 0:
        raise ValueError(
            f"the run made no {activity} (units must be > 0, got {units}): run one first"
        )
    functions = [f for f in usage.functions if f.activity == activity]
    transitions = sum(e.transitions for e in usage.executions if e.activity == activity)
    tier1, tier2 = usage.s3_requests.get(activity, (0, 0))
    price = prices.api_rest_per_request if api_price is None else api_price
    return UnitCost(
        activity=activity,
        measured_units=units,
        lambda_usd=sum(f.compute_usd(prices) for f in functions) / units,
        step_functions_usd=transitions * prices.sfn_standard_per_transition / units,
        api_usd=api_requests(usage, activity) * price / units,
        s3_usd=(tier1 * prices.s3_tier1_per_request + tier2 * prices.s3_tier2_per_request) / units,
        logs_usd=sum(f.logs_usd(prices) for f in functions) / units,
    )


def project(usage: Usage, workload: Workload, prices: Prices = PRICES) -> CostReport:
    """The AWS bill of ``usage``'s unit costs at ``workload``, with recommendations."""
    activities = [a for a in ACTIVITIES if usage.units.get(a, 0) > 0]
    costs = {a: unit_cost(usage, a, prices) for a in activities}
    monthly_units = workload.units()
    monthly = {
        f"{a} ×{monthly_units[a]:,}": costs[a].total_usd * monthly_units[a] for a in activities
    }
    subjects = usage.units.get(SUBJECT, 0)
    if subjects:
        added_gb = usage.stored_bytes / subjects * workload.subjects_per_month / GB
        monthly["S3 storage added in a month"] = added_gb * prices.s3_per_gb_month
    for function in usage.functions:
        if function.provisioned:
            monthly[f"{function.function} provisioned ×{function.provisioned}"] = (
                function.provisioned_usd_month(prices)
            )
    per_million = {}
    if PREDICTION in costs:
        http = unit_cost(usage, PREDICTION, prices, api_price=prices.api_http_per_request)
        per_million = {"rest": costs[PREDICTION].total_usd * 1e6, "http": http.total_usd * 1e6}
    return CostReport(
        unit_costs=costs,
        per_million_predictions_rest=per_million.get("rest", 0.0),
        per_million_predictions_http=per_million.get("http", 0.0),
        workload=workload,
        monthly_usd=monthly,
        recommendations=recommendations(usage, workload, prices),
        usage=usage,
    )


def monthly_factor(usage: Usage, activity: str, workload: Workload) -> float:
    """Months-worth multiplier of the run's ``activity``: units a month / units measured."""
    measured = usage.units.get(activity, 0)
    return workload.units()[activity] / measured if measured else 0.0


def suggested_memory_mb(max_memory_used_mb: int) -> int:
    """The largest Max Memory Used with `MEMORY_HEADROOM`, rounded up to 64 MB (≥ 128 MB)."""
    return max(LAMBDA_MIN_MEMORY_MB, math.ceil(max_memory_used_mb * MEMORY_HEADROOM / 64) * 64)


def memory_cost_factor(configured_mb: int, suggested_mb: int) -> float:
    """GB-seconds at ``suggested_mb`` / at ``configured_mb`` for single-threaded, CPU-bound code
    (our functions run one BLAS thread): below 1,769 MB Lambda gives a proportional CPU share,
    so the duration grows by as much as the memory shrinks; above it one thread gains nothing."""

    def slowdown(memory_mb: int) -> float:
        return max(1.0, LAMBDA_FULL_VCPU_MB / memory_mb)

    return suggested_mb / configured_mb * slowdown(suggested_mb) / slowdown(configured_mb)


def recommendations(
    usage: Usage, workload: Workload, prices: Prices = PRICES
) -> list[Recommendation]:
    """Memory sizes, arm64, Express workflows, HTTP APIs and provisioned concurrency, each with
    its monthly saving at ``workload`` (largest first)."""
    found = [*_memory_recommendations(usage, workload, prices)]
    found += _arm64_recommendation(usage, workload, prices)
    found += _express_recommendations(usage, workload, prices)
    found += _http_api_recommendation(usage, workload, prices)
    found += [
        Recommendation(
            change=f"deploy with -c trainWarmEnvironments=0 ({f.function} pays per use only)",
            evidence=f"{f.provisioned} provisioned environment(s) of {f.memory_mb} MB around the "
            "clock; a cold training adds its init (Init Duration in its REPORT lines)",
            saving_usd_month=f.provisioned_usd_month(prices),
        )
        for f in usage.functions
        if f.provisioned
    ]
    return sorted(found, key=lambda r: -r.saving_usd_month)


def _function_monthly_gb_s_usd(
    function: FunctionUsage,
    usage: Usage,
    workload: Workload,
    prices: Prices,
    architecture: str | None = None,
) -> float:
    price = prices.lambda_.per_gb_s[architecture or function.architecture]
    return function.gb_s * price * monthly_factor(usage, function.activity, workload)


def _memory_recommendations(
    usage: Usage, workload: Workload, prices: Prices
) -> list[Recommendation]:
    found = []
    for function in usage.functions:
        if not function.invocations:
            continue
        suggested = suggested_memory_mb(function.max_memory_used_mb)
        if suggested >= function.memory_mb:
            continue
        factor = memory_cost_factor(function.memory_mb, suggested)
        if factor >= 1:  # below a full vCPU, a smaller size only runs longer
            continue
        saving = _function_monthly_gb_s_usd(function, usage, workload, prices) * (1 - factor)
        found.append(
            Recommendation(
                change=f"{function.function}: memory {function.memory_mb} → {suggested} MB",
                evidence=f"Max Memory Used at most {function.max_memory_used_mb} MB over "
                f"{len(function.invocations)} invocations; GB-s × {factor:.2f} if CPU-bound",
                saving_usd_month=saving,
            )
        )
    return found


def _arm64_recommendation(usage: Usage, workload: Workload, prices: Prices) -> list[Recommendation]:
    on_x86 = [f for f in usage.functions if f.architecture == "x86_64" and f.invocations]
    x86 = sum(_function_monthly_gb_s_usd(f, usage, workload, prices) for f in on_x86)
    arm = sum(_function_monthly_gb_s_usd(f, usage, workload, prices, "arm64") for f in on_x86)
    if not on_x86:
        return []
    return [
        Recommendation(
            change="every function on arm64 (layers built for manylinux aarch64)",
            evidence=f"{len(on_x86)} x86_64 functions; arm64 GB-s is "
            f"{prices.lambda_.per_gb_s['arm64'] / prices.lambda_.per_gb_s['x86_64']:.0%} of "
            "x86's price at the same duration (arm64 speed not measured here)",
            saving_usd_month=x86 - arm,
        )
    ]


def express_usd(execution: ExecutionUsage, prices: Prices = PRICES) -> float:
    """The execution as an Express workflow: a request plus its duration (rounded up to
    100 ms) × the minimum 64 MB."""
    billed_s = math.ceil(execution.duration_s * 10) / 10
    gb_s = billed_s * SFN_EXPRESS_MEMORY_CHUNK_MB / 1024
    return prices.sfn_express_per_request + gb_s * prices.sfn_express_per_gb_s


def _express_recommendations(
    usage: Usage, workload: Workload, prices: Prices
) -> list[Recommendation]:
    found = []
    for name in sorted({e.state_machine for e in usage.executions}):
        executions = [e for e in usage.executions if e.state_machine == name]
        factor = monthly_factor(usage, executions[0].activity, workload)
        standard = sum(e.transitions for e in executions) * prices.sfn_standard_per_transition
        express = sum(express_usd(e, prices) for e in executions)
        longest = max(e.duration_s for e in executions)
        blockers = []
        if longest > SFN_EXPRESS_MAX_S:
            blockers.append(f"the longest execution took {longest:.0f} s (> {SFN_EXPRESS_MAX_S} s)")
        if not usage.express_compatible.get(name, True):
            blockers.append("its definition uses .sync or .waitForTaskToken")
        verdict = (
            "could be Express" if not blockers else "cannot be Express: " + "; ".join(blockers)
        )
        found.append(
            Recommendation(
                change=f"state machine {name} as Express ({verdict})",
                evidence=f"{len(executions)} executions, "
                f"{sum(e.transitions for e in executions) / len(executions):.1f} transitions and "
                f"{sum(e.duration_s for e in executions) / len(executions):.1f} s each (longest "
                f"{longest:.1f} s); Express keeps no execution history for `p300 executions`",
                saving_usd_month=(standard - express) * factor if not blockers else 0.0,
            )
        )
    return found


def _http_api_recommendation(
    usage: Usage, workload: Workload, prices: Prices
) -> list[Recommendation]:
    requests_month = sum(
        api_requests(usage, activity) * monthly_factor(usage, activity, workload)
        for activity in ACTIVITIES
    )
    if not requests_month:
        return []
    difference = prices.api_rest_per_request - prices.api_http_per_request
    return [
        Recommendation(
            change="HTTP APIs instead of REST APIs",
            evidence=f"${prices.api_rest_per_request * 1e6:.2f} → "
            f"${prices.api_http_per_request * 1e6:.2f} per million requests; HTTP APIs have no "
            "API keys or usage plans (the upload API's keys would need a Lambda authorizer)",
            saving_usd_month=requests_month * difference,
        )
    ]
