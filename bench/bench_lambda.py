"""Benchmark: Lambda invoke latency on the local executor vs a direct call of the same handler.

Starts its own LocalStack on a free port (private temporary home), deploys a trivial function,
measures the first invoke after start, a cold invoke of a second function and `--warm` warm
invokes through boto3, then stops LocalStack.

    .venv/bin/python bench/bench_lambda.py [--warm 100]

Targets: warm median ≤ 30 ms, cold ≤ 0.3 s.
"""

import argparse
import io
import json
import os
import statistics
import tempfile
import time
import zipfile
from pathlib import Path

import psutil

from p300_ops.localcloud.localstack import aws_client, start_localstack
from p300_ops.localcloud.processes import free_port, stop_server

HANDLER_SOURCE = "def handler(event, context):\n    return {'ok': True, 'echo': event}\n"
WARM_TARGET_MS = 30.0
COLD_TARGET_S = 0.3


def trivial_handler_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", HANDLER_SOURCE)
    return buffer.getvalue()


def direct_call_times_ms(n_calls: int) -> list[float]:
    """Per-call time (ms) of the same handler called in-process, event round-tripped as JSON."""
    namespace: dict = {}
    exec(HANDLER_SOURCE, namespace)
    handler = namespace["handler"]
    times = []
    for i in range(n_calls):
        started = time.perf_counter()
        json.dumps(handler(json.loads(json.dumps({"i": i})), None))
        times.append((time.perf_counter() - started) * 1000)
    return times


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def lambda_client(port: int):
    return aws_client("lambda", port)


def deploy(client, name: str) -> None:
    client.create_function(
        FunctionName=name,
        Runtime="python3.13",
        Role="arn:aws:iam::000000000000:role/bench",
        Handler="index.handler",
        Code={"ZipFile": trivial_handler_zip()},
    )
    client.get_waiter("function_active_v2").wait(FunctionName=name)


def invoke_ms(client, i: int, *, name: str = "bench") -> float:
    started = time.perf_counter()
    response = client.invoke(FunctionName=name, Payload=json.dumps({"i": i}))
    response["Payload"].read()
    if response.get("FunctionError"):
        raise RuntimeError(f"benchmark function failed: {response}")
    return (time.perf_counter() - started) * 1000


def environment_rss_mb(server_pid: int) -> list[float]:
    """Resident memory (MB) of each Lambda environment process LocalStack `server_pid` started."""
    children = psutil.Process(server_pid).children(recursive=True)
    return [
        p.memory_info().rss / 2**20
        for p in children
        if any("bootstrap.py" in a for a in p.cmdline())
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm", type=int, default=100, help="number of warm invokes")
    args = parser.parse_args()
    server = start_localstack(Path(tempfile.mkdtemp(prefix="p300-bench-")), port=free_port())
    try:
        client = lambda_client(server.port)
        deploy(client, "first")
        first_ms = invoke_ms(client, -1, name="first")  # LocalStack loads STS, Logs... on it
        time.sleep(3)  # let those services finish loading
        deploy(client, "bench")
        cold_ms = invoke_ms(client, -1)
        warm = [invoke_ms(client, i) for i in range(args.warm)]
        rss_mb = environment_rss_mb(server.pid)
    finally:
        stop_server(server)
    direct = direct_call_times_ms(args.warm)
    warm_median, direct_median = statistics.median(warm), statistics.median(direct)
    print(f"load average (1 min)   : {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"first invoke after start: {first_ms:7.1f} ms   (includes LocalStack loading services)")
    print(f"cold invoke            : {cold_ms:8.1f} ms   (target ≤ {COLD_TARGET_S * 1000:.0f} ms)")
    print(
        f"warm invoke, n={args.warm:<6}: median {warm_median:6.1f} ms, "
        f"p95 {percentile(warm, 0.95):6.1f} ms   (target median ≤ {WARM_TARGET_MS:.0f} ms)"
    )
    print(
        f"direct call, n={args.warm:<6}: median {direct_median * 1000:6.1f} µs, "
        f"p95 {percentile(direct, 0.95) * 1000:6.1f} µs"
    )
    print(f"environments           : {len(rss_mb)}, RSS {', '.join(f'{m:.0f}' for m in rss_mb)} MB")
    print(
        f"ratios                 : warm/direct {warm_median / direct_median:,.0f}×, "
        f"cold/warm {cold_ms / warm_median:.1f}×"
    )


if __name__ == "__main__":
    main()
