"""Benchmark: Lambda invoke latency on the local executor vs a direct call of the same handler.

Starts its own LocalStack on a free port (private temporary home), deploys a trivial function,
measures the first invoke after start, a cold invoke of a second function and `--warm` warm
invokes through boto3; then how soon a 1 s timeout answers an invoke that would sleep 30 s, and the
wall time of 4 concurrent invokes that each sleep 1 s (cold, then warm: 1 s when they truly run at
once); then stops LocalStack. (tests/integration/localstack/test_lambda_runtime.py checks the
behaviour; these are its speeds.)

    .venv/bin/python bench/bench_lambda.py [--warm 100]

Targets: warm median ≤ 30 ms, cold ≤ 0.3 s, timeout answered ≤ 1.5 s, 4 warm concurrent ≤ 1.5 s.
"""

import argparse
import io
import json
import os
import statistics
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import psutil

from p300_ops.localcloud.localstack import aws_client, start_localstack
from p300_ops.localcloud.processes import free_port, stop_server

HANDLER_SOURCE = "def handler(event, context):\n    return {'ok': True, 'echo': event}\n"
SLEEPER_SOURCE = (
    "import time\n"
    "def handler(event, context):\n    time.sleep(event['seconds'])\n    return {'ok': True}\n"
)
WARM_TARGET_MS = 30.0
COLD_TARGET_S = 0.3
TIMEOUT_TARGET_S = 1.5
CONCURRENT_TARGET_S = 1.5
N_CONCURRENT = 4


def handler_zip(source: str = HANDLER_SOURCE) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", source)
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


def deploy(client, name: str, *, source: str = HANDLER_SOURCE, timeout_s: int = 3) -> None:
    client.create_function(
        FunctionName=name,
        Runtime="python3.13",
        Role="arn:aws:iam::000000000000:role/bench",
        Handler="index.handler",
        Code={"ZipFile": handler_zip(source)},
        Timeout=timeout_s,
    )
    client.get_waiter("function_active_v2").wait(FunctionName=name)


def invoke_ms(client, i: int, *, name: str = "bench") -> float:
    started = time.perf_counter()
    response = client.invoke(FunctionName=name, Payload=json.dumps({"i": i}))
    response["Payload"].read()
    if response.get("FunctionError"):
        raise RuntimeError(f"benchmark function failed: {response}")
    return (time.perf_counter() - started) * 1000


def timeout_answer_s(client) -> float:
    """Wall time (s) of an invoke that would sleep 30 s in a function with a 1 s timeout."""
    deploy(client, "times-out", source=SLEEPER_SOURCE, timeout_s=1)
    started = time.perf_counter()
    response = client.invoke(FunctionName="times-out", Payload=json.dumps({"seconds": 30}))
    payload = json.loads(response["Payload"].read())
    if "Task timed out after 1.00 seconds" not in payload.get("errorMessage", ""):
        raise RuntimeError(f"the 1 s timeout did not answer: {payload}")
    return time.perf_counter() - started


def concurrent_wall_s(port: int, name: str) -> float:
    """Wall time (s) of `N_CONCURRENT` invokes of `name` (sleeping 1 s each) sent at once."""
    clients = [lambda_client(port) for _ in range(N_CONCURRENT)]

    def call(client) -> None:
        client.invoke(FunctionName=name, Payload=json.dumps({"seconds": 1}))["Payload"].read()

    threads = [threading.Thread(target=call, args=(c,)) for c in clients]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


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
        timeout_s = timeout_answer_s(client)
        deploy(client, "sleeps", source=SLEEPER_SOURCE)
        concurrent_cold_s = concurrent_wall_s(server.port, "sleeps")
        concurrent_warm_s = concurrent_wall_s(server.port, "sleeps")
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
        f"1 s timeout answered   : {timeout_s:8.2f} s     (target ≤ {TIMEOUT_TARGET_S} s; "
        f"{timeout_s:.1f}× the timeout)"
    )
    print(
        f"{N_CONCURRENT} concurrent 1 s sleeps: cold {concurrent_cold_s:.2f} s, warm "
        f"{concurrent_warm_s:.2f} s   (target warm ≤ {CONCURRENT_TARGET_S} s; serial would be "
        f"{N_CONCURRENT} s)"
    )
    print(
        f"ratios                 : warm/direct {warm_median / direct_median:,.0f}×, "
        f"cold/warm {cold_ms / warm_median:.1f}×"
    )


if __name__ == "__main__":
    main()
