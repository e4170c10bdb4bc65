"""Benchmark: the prediction API through API Gateway on the local cloud.

    .venv/bin/python bench/bench_serving_gateway.py [--clients 20]

Setup (about 1–2 min, no pipeline run): a private cloud (`p300 up`), System A's LDA fitted on
synthetic features (16 channels × 70 samples), registered in the cloud's MLflow and deployed to
the ``champion`` alias. Then, against ``/predict-champion/predict`` (bodies prepared beforehand, so
the client's encoding is not timed):

- the first request after the deploy (the new Lambda version's cold start);
- LocalStack's own CPU per request (health, invoke, gateway) on a bare instance, without and
  with our speed-up patches (`localstack_cpu`), and MiniStack's as a peer baseline (installed
  by `localstack_cpu` into a venv of its own; ``--no-peer`` skips it);
- single-epoch binary requests, p50/p99, from 1 client and from ``--clients`` closed-loop clients
  (targets p50 ≤ 60 ms, p99 ≤ 150 ms). Before the concurrent run the alias gets provisioned
  concurrency ``--clients``, and the run checks that many environments of the function exist, so
  no cold start is timed;
- the CPU each request costs the whole local cloud (LocalStack and its Lambda environments), and
  the floor Little's law puts on the median with N closed-loop clients on this machine's cores:
  p50 ≥ N × CPU per request / cores;
- throughput in epochs/s (target ≥ 20,000) with float32 batches of 200 epochs up to the largest
  that fits the 6 MB Lambda payload limit, as base64 JSON and as binary
  (``application/octet-stream``, `p300_serving.binary`), a 200-epoch JSON-lists batch, and
  System A's style of one JSON request per epoch (the baseline);
- the same app in this process through Mangum, same run (the other baseline).

The cloud is torn down at the end, whatever happened.
"""

import argparse
import base64
import contextlib
import json
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import psutil
from bench_serving_local import predict_event, register, train
from localstack_cpu import TARGETS as CPU_TARGETS
from localstack_cpu import compare as localstack_cpu_compare
from localstack_cpu import ministack_python
from localstack_cpu import report as localstack_cpu_report

from p300_aws.names import API_NAME, CHAMPION_ALIAS, PREDICT_FUNCTION, REGISTERED_MODEL
from p300_ops.localcloud import lifecycle, localstack
from p300_ops.localcloud.processes import free_port
from p300_ops.services import release
from p300_ops.services.cloud import Cloud, api_url
from p300_ops.services.simulation import route_url
from p300_serving import binary

#: API Gateway's (and Lambda's synchronous) payload limit, in bytes.
PAYLOAD_LIMIT = 6 * 1024 * 1024
BATCH_SIZES = (200, 500)
TARGET_P50_MS, TARGET_P99_MS, TARGET_EPOCHS_PER_S = 60, 150, 20_000
JSON_HEADERS = {"Content-Type": "application/json"}
#: A request body and its headers (content type, and the shape of a binary batch).
Body = tuple[bytes, dict[str, str]]


def b64_body(epochs: np.ndarray) -> Body:
    """The /predict body of ``epochs`` (n_epochs, n_features) as base64 little-endian float32."""
    encoded = base64.b64encode(epochs.astype("<f4").tobytes()).decode()
    return json.dumps({"features_b64": encoded}).encode(), JSON_HEADERS


def json_body(epochs: np.ndarray) -> Body:
    return json.dumps({"features": epochs.tolist()}).encode(), JSON_HEADERS


def binary_body(epochs: np.ndarray) -> Body:
    return binary.encode_batch(epochs), binary.binary_headers(epochs.shape)


def max_batch(n_features: int, *, limit: int = PAYLOAD_LIMIT, margin: int = 4096) -> int:
    """Most epochs whose base64 body, wrapped in API Gateway's event (``margin`` bytes of
    headers and context), stays within ``limit`` bytes."""
    return (limit - margin) * 3 // 4 // (4 * n_features)


def cloud_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid`` and its live descendants."""
    root = psutil.Process(pid)
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def environments(pid: int, function: str) -> int:
    """Live Lambda environments of ``function`` under LocalStack (process ``pid``)."""
    count = 0
    for process in psutil.Process(pid).children(recursive=True):
        try:
            count += process.environ().get("AWS_LAMBDA_FUNCTION_NAME") == function
        except psutil.Error:
            continue
    return count


#: The ``Authorization`` header of the bench's prediction token (set once the cloud is up).
AUTH: dict[str, str] = {}


def timed_post(client: httpx.Client, url: str, body: Body) -> float:
    content, headers = body
    started = time.perf_counter()
    response = client.post(url, content=content, headers={**headers, **AUTH})
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed


def closed_loop(url: str, bodies: list[Body], *, clients: int, per_client: int) -> list[float]:
    """Latencies (s) of ``clients`` clients each sending ``per_client`` requests back to back."""

    def one_client(offset: int) -> list[float]:
        with httpx.Client(timeout=120) as client:
            return [
                timed_post(client, url, bodies[(offset + i) % len(bodies)])
                for i in range(per_client)
            ]

    with ThreadPoolExecutor(max_workers=clients) as pool:
        runs = list(pool.map(one_client, range(0, clients * per_client, per_client)))
    return [latency for run in runs for latency in run]


def measured(pid: int, run) -> tuple[object, float, float]:
    """(result of ``run()``, its wall s, CPU s the cloud used meanwhile)."""
    cpu_before, started = cloud_cpu_s(pid), time.perf_counter()
    result = run()
    return result, time.perf_counter() - started, cloud_cpu_s(pid) - cpu_before


def provision(lambda_client, n: int, *, timeout_s: float = 600) -> float:
    """Provisioned concurrency ``n`` on the champion alias; seconds until it is READY."""
    started = time.monotonic()
    lambda_client.put_provisioned_concurrency_config(
        FunctionName=PREDICT_FUNCTION, Qualifier=CHAMPION_ALIAS, ProvisionedConcurrentExecutions=n
    )
    while time.monotonic() - started < timeout_s:
        status = lambda_client.get_provisioned_concurrency_config(
            FunctionName=PREDICT_FUNCTION, Qualifier=CHAMPION_ALIAS
        )["Status"]
        if status != "IN_PROGRESS":
            if status != "READY":
                raise RuntimeError(f"provisioned concurrency ended {status}")
            return time.monotonic() - started
        time.sleep(0.5)
    raise TimeoutError(f"provisioned concurrency {n} not READY after {timeout_s:.0f} s")


def in_process(bundle: Path, one: Body, batches: dict[tuple[str, int], Body]) -> dict:
    """The same app in this process via Mangum: single-epoch latencies (s) and s per batch
    (keyed like `batch_bodies`)."""
    from mangum import Mangum

    from p300_serving.app import create_app
    from p300_serving.model import load_bundle

    handler = Mangum(create_app(load_bundle(bundle)), lifespan="off")

    def latencies(body: Body, n: int) -> list[float]:
        content, headers = body
        event = predict_event("")
        event["headers"] = {**headers, "Content-Length": str(len(content))}
        event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
        # As API Gateway hands a body to Lambda: binary media types base64-encoded.
        if headers["Content-Type"] == binary.MEDIA_TYPE:
            event["body"] = base64.b64encode(content).decode()
            event["isBase64Encoded"] = True
        else:
            event["body"] = content.decode()
        handler(event, None)
        times = []
        for _ in range(n):
            started = time.perf_counter()
            assert handler(event, None)["statusCode"] == 200
            times.append(time.perf_counter() - started)
        return times

    batch_s = {key: float(np.median(latencies(body, 10))) for key, body in batches.items()}
    return {"single": latencies(one, 200), "batch": batch_s}


def gateway(url: str, pid: int, lambda_client, epochs: np.ndarray, *, clients: int) -> dict:
    """Every gateway figure; ``epochs`` shape (n_epochs, n_features) float32 µV."""
    singles = [binary_body(epochs[i : i + 1]) for i in range(len(epochs))]
    figures = {}
    with httpx.Client(timeout=120) as client:
        figures["cold_s"] = timed_post(client, url, singles[0])
        for body in singles[1:20]:  # warm this environment before timing
            timed_post(client, url, body)
    figures["one"] = measured(pid, lambda: closed_loop(url, singles, clients=1, per_client=200))
    figures["provision_s"] = provision(lambda_client, clients)
    figures["environments"] = environments(pid, PREDICT_FUNCTION)
    closed_loop(url, singles, clients=clients, per_client=3)  # a first request on each
    figures["many"] = measured(
        pid, lambda: closed_loop(url, singles, clients=clients, per_client=20)
    )
    system_a = [json_body(epochs[i : i + 1]) for i in range(200)]
    lists = json_body(epochs[:200])
    figures["throughput"] = [
        ("System A: 1 epoch/request, JSON", 1, len(system_a[0][0]),
         measured(pid, lambda: closed_loop(url, system_a, clients=1, per_client=200))),
        ("200 epochs/request, JSON lists", 200, len(lists[0]),
         measured(pid, lambda: closed_loop(url, [lists], clients=1, per_client=10))),
    ]  # fmt: skip
    figures["throughput"] += [
        (f"{n} epochs/request, {encoding}", n, len(body[0]),
         measured(pid, lambda body=body: closed_loop(url, [body], clients=1, per_client=10)))
        for (encoding, n), body in batch_bodies(epochs).items()
    ]  # fmt: skip
    (_, largest), body = list(batch_bodies(epochs).items())[-1]
    cores = os.cpu_count()
    figures["throughput"].append(
        (f"{largest} epochs/request, binary, {cores} clients", largest, len(body[0]),
         measured(pid, lambda: closed_loop(url, [body], clients=cores, per_client=10)))
    )  # fmt: skip
    return figures


def champion_cloud(home: Path, pipeline, schema) -> tuple[lifecycle.CloudState, object, str]:
    """A private cloud in ``home`` with ``pipeline`` registered and deployed to ``champion``:
    its state, a Lambda client and the champion route's URL; `AUTH` holds the CLI's token."""
    config = lifecycle.CloudConfig(home=home, localstack_port=free_port(),
                                   mlflow_port=free_port())  # fmt: skip
    state = lifecycle.up(config, progress=lambda message: print(f"  {message}"))
    register(pipeline, schema, state.tracking_uri, home / "artifacts")
    lambda_client = localstack.aws_client("lambda", state.localstack_port)
    apigateway = localstack.aws_client("apigateway", state.localstack_port)
    release.deploy_model(lambda_client, apigateway, state.tracking_uri, CHAMPION_ALIAS)
    base = api_url(apigateway, API_NAME, endpoint_url=state.endpoint_url)
    AUTH.update(Cloud(state).api_headers("predict"))
    return state, lambda_client, route_url(base, CHAMPION_ALIAS)


def batch_bodies(epochs: np.ndarray) -> dict[tuple[str, int], Body]:
    """Bodies of 200 epochs up to the most that fit the payload limit, base64 JSON then binary,
    keyed by (encoding, n_epochs). A binary body reaches Lambda base64-encoded in its event, so
    the same limit holds for both."""
    largest = max_batch(epochs.shape[1])
    sizes = [n for n in BATCH_SIZES if n < largest] + [largest]
    encoders = {"base64": b64_body, "binary": binary_body}
    return {
        (encoding, n): encode(np.resize(epochs, (n, epochs.shape[1])))
        for encoding, encode in encoders.items()
        for n in sizes
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients")
    parser.add_argument("--sessions", type=int, default=4, help="synthetic 60-s sessions")
    parser.add_argument("--cpu-requests", type=int, default=300,
                        help="requests per kind on the bare LocalStacks")  # fmt: skip
    parser.add_argument("--ministack", help="python of another venv with ministack")
    parser.add_argument("--no-peer", action="store_true", help="skip the MiniStack baseline")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    peer = None if args.no_peer else args.ministack or ministack_python()
    cpu = localstack_cpu_compare(requests=args.cpu_requests, ministack=peer)
    home = Path(tempfile.mkdtemp(prefix="p300-bench-gateway-"))
    pipeline, features, schema = train(args.sessions)
    epochs = features.astype(np.float32)
    started = time.monotonic()
    try:
        state, lambda_client, url = champion_cloud(home, pipeline, schema)
        pid = state.servers["localstack"].pid
        setup_s = time.monotonic() - started
        figures = gateway(url, pid, lambda_client, epochs, clients=args.clients)
        bundle = home / "bundle"
        from p300_ops.services.model_bundles import build_bundle

        build_bundle(state.tracking_uri, REGISTERED_MODEL, CHAMPION_ALIAS, bundle)
        local = in_process(bundle, binary_body(epochs[:1]), batch_bodies(epochs))
    finally:
        # NothingRunning: `up` failed and already stopped what it started.
        with contextlib.suppress(lifecycle.NothingRunning):
            lifecycle.down(home)
    localstack_cpu_report(cpu, CPU_TARGETS)
    report(figures, local, epochs=epochs, clients=args.clients,
           load=(load_before, os.getloadavg()[0]),
           setup_s=setup_s, total_s=time.monotonic() - started)  # fmt: skip


def report(figures: dict, local: dict, *, epochs, clients, load, setup_s, total_s) -> None:
    cores = os.cpu_count()
    print(f"\nmachine: {cores} cores, load average {load[0]:.1f} before, {load[1]:.1f} after; "
          f"setup {setup_s:.0f} s, whole run {total_s:.0f} s")  # fmt: skip
    print(f"{len(epochs)} synthetic epochs, {epochs.shape[1]} float32 features each")
    print(f"first request after deploy (cold start): {figures['cold_s'] * 1000:.0f} ms")
    print(f"provisioned concurrency {clients}: READY in {figures['provision_s']:.1f} s, "
          f"{figures['environments']} environments of {PREDICT_FUNCTION}")  # fmt: skip

    local_p50 = np.percentile(local["single"], 50) * 1000
    print(f"\n{'single-epoch requests':<36}{'p50 ms':>8}{'p99 ms':>8}{'CPU/req ms':>12}"
          f"{'floor p50 ms':>14}   targets {TARGET_P50_MS} / {TARGET_P99_MS} ms")  # fmt: skip
    for label, n, (latencies, _, cpu_s) in [
        ("  1 client, 200 requests", 1, figures["one"]),
        (f"  {clients} clients (warm), 20 each", clients, figures["many"]),
    ]:
        p50, p99 = np.percentile(latencies, [50, 99]) * 1000
        cpu_ms = cpu_s / len(latencies) * 1000
        floor = n * cpu_ms / cores  # Little's law: N requests in flight share the cores
        verdict = "met" if p50 <= TARGET_P50_MS and p99 <= TARGET_P99_MS else "missed"
        print(f"{label:<36}{p50:>8.1f}{p99:>8.1f}{cpu_ms:>12.1f}{floor:>14.0f}   {verdict}")
    print(f"{'  in-process app (baseline)':<36}{local_p50:>8.2f}"
          f"{np.percentile(local['single'], 99) * 1000:>8.2f}")  # fmt: skip

    rows = figures["throughput"]
    system_a = _epochs_per_s(rows[0][3], 1)
    print(f"\n{'throughput, 1 client':<36}{'body MB':>8}{'ms/req':>8}{'CPU/req ms':>12}"
          f"{'epochs/s':>10}{'× Sys A':>9}{'in-proc ×':>10}"
          f"   target {TARGET_EPOCHS_PER_S:,}")  # fmt: skip
    for label, n, body_bytes, run in rows:
        latencies, _, cpu_s = run
        rate = _epochs_per_s(run, n)
        encoding = next((e for e in ("base64", "binary") if f", {e}" in label), None)
        local_s = local["batch"].get((encoding, n)) if "clients" not in label else None
        versus = f"{n / local_s / rate:>10.1f}" if local_s else f"{'':>10}"
        print(f"  {label:<34}{body_bytes / 1e6:>8.2f}{np.median(latencies) * 1000:>8.0f}"
              f"{cpu_s / len(latencies) * 1000:>12.0f}{rate:>10,.0f}{rate / system_a:>9.0f}"
              f"{versus}")  # fmt: skip
    largest, _, cpu_s = rows[-1][1], rows[-1][2], rows[-1][3][2] / len(rows[-1][3][0])
    print(f"  CPU ceiling with every core busy: {cores} × {largest} epochs / {cpu_s * 1000:.0f} "
          f"ms CPU per request = {cores * largest / cpu_s:,.0f} epochs/s")  # fmt: skip
    for (encoding, n), seconds in local["batch"].items():
        print(f"  in-process app, {n} epochs {encoding}: {n / seconds:,.0f} epochs/s")
    print(f"  Lambda payload limit {PAYLOAD_LIMIT:,} bytes: at most "
          f"{max_batch(epochs.shape[1])} epochs of {epochs.shape[1]} float32 per request "
          "(a binary body travels base64-encoded in the Lambda event)")  # fmt: skip


def _epochs_per_s(run, n_epochs: int) -> float:
    latencies, wall_s, _ = run
    return len(latencies) * n_epochs / wall_s


if __name__ == "__main__":
    main()
