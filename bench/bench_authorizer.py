"""Benchmark: what the prediction API's Lambda authorizer adds to a request's latency.

    .venv/bin/python bench/bench_authorizer.py [--requests 200]

Setup as `bench_serving_gateway.py` (a private cloud, System A's LDA deployed to ``champion``).
Then, from 1 client, single-epoch ``POST /predict-champion/predict`` (bodies prepared
beforehand, each with ``Authorization: Bearer <token>``) with the route's methods as deployed
(TOKEN authorizer) and, in the same run, with the same methods switched to no authorization (a
new deployment of the stage; the request validator still wants the header), then back. Reported:
p50/p99 of each and the difference of the medians, plus the authorizer function's own p50 when
invoked directly (its share of the difference).

The authorizer's results are not cached (TTL 0: a revoked token is refused from the next
request on), so every request pays it. The cloud is torn down at the end, whatever happened.
"""

import argparse
import contextlib
import json
import os
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from bench_serving_gateway import b64_body, champion_cloud, closed_loop, timed_post
from bench_serving_local import train

from p300_aws.names import API_NAME, API_STAGE, AUTHORIZER_FUNCTIONS
from p300_ops.localcloud import lifecycle, localstack
from p300_ops.services import release
from p300_ops.services.cloud import Cloud, rest_api_id


def route_methods(apigateway, api_id: str) -> list[tuple[str, str]]:
    """(resource id, HTTP method) of every authorized method of the champion route."""
    resources = apigateway.get_resources(restApiId=api_id, limit=500)["items"]
    return [
        (resource["id"], method)
        for resource in resources
        if resource["path"].startswith(f"/{release.CHAMPION_ROUTE}")
        for method, spec in (resource.get("resourceMethods") or {}).items()
        if apigateway.get_method(restApiId=api_id, resourceId=resource["id"], httpMethod=method)
        .get("authorizationType") == "CUSTOM"
    ]  # fmt: skip


def set_authorization(apigateway, api_id: str, methods, authorizer_id: str | None) -> None:
    """Switch ``methods`` to the authorizer (or to none) and redeploy the stage."""
    operations = (
        [{"op": "replace", "path": "/authorizationType", "value": "CUSTOM"},
         {"op": "replace", "path": "/authorizerId", "value": authorizer_id}]
        if authorizer_id
        else [{"op": "replace", "path": "/authorizationType", "value": "NONE"}]
    )  # fmt: skip
    for resource_id, method in methods:
        apigateway.update_method(restApiId=api_id, resourceId=resource_id, httpMethod=method,
                                 patchOperations=operations)  # fmt: skip
    apigateway.create_deployment(restApiId=api_id, stageName=API_STAGE)


def direct_invokes(lambda_client, token: str, n: int) -> list[float]:
    """Latencies (s) of invoking the prediction authorizer directly with a valid token."""
    event = json.dumps(
        {
            "type": "TOKEN",
            "authorizationToken": f"Bearer {token}",
            "methodArn": "arn:aws:execute-api:us-east-1:000000000000:x/prod/POST/p",
        }
    )
    times = []
    for _ in range(n + 5):
        started = time.perf_counter()
        lambda_client.invoke(FunctionName=AUTHORIZER_FUNCTIONS["predict"], Payload=event)
        times.append(time.perf_counter() - started)
    return times[5:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="requests per variant")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    home = Path(tempfile.mkdtemp(prefix="p300-bench-authorizer-"))
    pipeline, features, schema = train(2)
    singles = [b64_body(features[i : i + 1].astype(np.float32)) for i in range(len(features))]
    figures = {}
    try:
        state, lambda_client, url = champion_cloud(home, pipeline, schema)
        apigateway = localstack.aws_client("apigateway", state.localstack_port)
        token = Cloud(state).api_token("predict")
        api_id = rest_api_id(apigateway, API_NAME)
        methods = route_methods(apigateway, api_id)
        authorizer_id = apigateway.get_method(
            restApiId=api_id, resourceId=methods[0][0], httpMethod=methods[0][1]
        )["authorizerId"]
        with httpx.Client(timeout=120) as client:  # cold starts of the app and the authorizer
            for body in singles[:20]:
                timed_post(client, url, body)
        for variant in ("authorizer", "none", "authorizer again"):
            set_authorization(apigateway, api_id, methods,
                              None if variant == "none" else authorizer_id)  # fmt: skip
            # The same requests each time, token included (unchecked without the authorizer:
            # the request validator still requires the header).
            with httpx.Client(timeout=30) as client:
                timed_post(client, url, singles[0])
            figures[variant] = closed_loop(url, singles, clients=1, per_client=args.requests)
        figures["direct"] = direct_invokes(lambda_client, token, args.requests)
    finally:
        with contextlib.suppress(lifecycle.NothingRunning):
            lifecycle.down(home)
    cores = os.cpu_count()
    print(
        f"\nmachine: {cores} cores, load average {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after; {args.requests} single-epoch requests per variant"
    )
    print(f"{'1 client, POST /predict-champion/predict':<48}{'p50 ms':>8}{'p99 ms':>8}")
    for variant in ("authorizer", "none", "authorizer again"):
        p50, p99 = np.percentile(figures[variant], [50, 99]) * 1000
        print(f"  {variant:<46}{p50:>8.1f}{p99:>8.1f}")
    with_auth = np.median(figures["authorizer"] + figures["authorizer again"]) * 1000
    without = np.median(figures["none"]) * 1000
    print(
        f"  authorizer cost (p50 with − p50 without): {with_auth - without:+.1f} ms "
        f"({with_auth / without:.2f}×)"
    )
    direct = np.percentile(figures["direct"], [50, 99]) * 1000
    print(
        f"  {AUTHORIZER_FUNCTIONS['predict']} invoked directly: p50 {direct[0]:.1f} ms, "
        f"p99 {direct[1]:.1f} ms"
    )


if __name__ == "__main__":
    main()
