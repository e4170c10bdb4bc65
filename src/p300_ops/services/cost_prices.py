"""The AWS prices `p300 cost` projects with: one table, one place.

Public on-demand prices of region us-east-1 (N. Virginia), in USD, as published on the AWS pricing
pages (aws.amazon.com/lambda/pricing, /step-functions/pricing, /api-gateway/pricing,
/s3/pricing, /cloudwatch/pricing), read on `PRICES_DATE`. First pricing tier of each (the
platform's volumes never reach the next), free tiers not deducted (they are per account, not per
workload), no Savings Plans. Update the table and its date together.

Billing rules the projection follows (same pages):
- Lambda bills requests and GB-seconds: configured memory (GB) × duration rounded up to the
  millisecond. Since 2025-08-01 the INIT phase of on-demand functions is billed as duration too,
  so a cold invocation bills Init Duration + Duration.
- Provisioned concurrency bills configured GB-seconds around the clock, and the invocations on it
  at a lower duration price.
- Step Functions Standard bills each state transition (retries included); Express bills each
  execution plus its duration (rounded up to 100 ms) × memory in 64 MB chunks.
- API Gateway bills each request (REST and HTTP APIs; HTTP per 512 KB).
- S3 bills PUT/COPY/POST/LIST requests (tier 1), GET and the others (tier 2), and GB-months
  stored (Standard).
- CloudWatch Logs bills GB ingested; each event counts its message plus 26 bytes.
"""

from dataclasses import dataclass

PRICES_DATE = "2026-12-07"
REGION = "us-east-1"


@dataclass(frozen=True)
class LambdaPrices:
    """USD per request and per GB-second, by architecture."""

    per_request: float
    per_gb_s: dict[str, float]
    provisioned_per_gb_s: dict[str, float]
    provisioned_duration_per_gb_s: dict[str, float]


@dataclass(frozen=True)
class Prices:
    """Every price the projection uses (USD)."""

    lambda_: LambdaPrices
    sfn_standard_per_transition: float
    sfn_express_per_request: float
    sfn_express_per_gb_s: float
    api_rest_per_request: float
    api_http_per_request: float
    s3_tier1_per_request: float
    s3_tier2_per_request: float
    s3_per_gb_month: float
    logs_per_gb_ingested: float


PRICES = Prices(
    lambda_=LambdaPrices(
        per_request=0.20 / 1e6,
        per_gb_s={"x86_64": 0.0000166667, "arm64": 0.0000133334},
        provisioned_per_gb_s={"x86_64": 0.0000041667, "arm64": 0.0000033334},
        provisioned_duration_per_gb_s={"x86_64": 0.0000097222, "arm64": 0.0000077778},
    ),
    sfn_standard_per_transition=0.025 / 1000,
    sfn_express_per_request=1.00 / 1e6,
    sfn_express_per_gb_s=0.00001667,
    api_rest_per_request=3.50 / 1e6,
    api_http_per_request=1.00 / 1e6,
    s3_tier1_per_request=0.005 / 1000,
    s3_tier2_per_request=0.0004 / 1000,
    s3_per_gb_month=0.023,
    logs_per_gb_ingested=0.50,
)

#: Lambda's units and limits the projection relies on.
LAMBDA_FULL_VCPU_MB = 1769  # one full vCPU at this memory size; CPU share scales with memory
LAMBDA_MIN_MEMORY_MB = 128
SFN_EXPRESS_MAX_S = 300  # an Express execution may run 5 minutes at most
SFN_EXPRESS_MEMORY_CHUNK_MB = 64
LOG_EVENT_OVERHEAD_BYTES = 26
GB = 1024**3  # AWS's GB in these prices is 2**30 bytes
SECONDS_PER_MONTH = 730 * 3600  # AWS's month in its pricing examples
