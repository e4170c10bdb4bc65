"""Benchmark: the prediction API through API Gateway on the local cloud.

    .venv/bin/python bench/bench_serving_gateway.py [--duration 60]

Sets up with the demo's own steps (a private cloud, 10 synthetic subjects ingested, version 1
trained on 01–05 and deployed as `challenger`), then measures against `/predict-challenger`:
- the first request after the deploy (the Lambda version's cold start);
- warm latency of single-epoch requests, p50/p99, with 1 and with 20 concurrent clients
  (targets p50 ≤ 30 ms, p99 ≤ 100 ms);
- batch throughput in epochs/s with 256 epochs per request, base64 float32 and JSON lists
  (target ≥ 20,000), beside System A's style of one JSON request per epoch, measured in the same
  run (the baseline).
The cloud is torn down at the end, whatever happened.
"""

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

from p300_aws.release import api_base_url
from p300_aws.simulator import encode_batch, load_subject_features, route_url
from p300_ops.commands.common import cloud_clients
from p300_ops.commands.release import release_clients
from p300_ops.demo import Demo, DemoConfig

EVALUATION_SUBJECTS = ["06", "07", "08", "09", "10"]


def percentiles_ms(latencies_s: list[float]) -> tuple[float, float]:
    ordered = np.sort(np.asarray(latencies_s)) * 1000
    return float(np.percentile(ordered, 50)), float(np.percentile(ordered, 99))


def timed_post(client: httpx.Client, url: str, body: dict) -> float:
    started = time.perf_counter()
    response = client.post(url, json=body)
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed


def single_epoch_latencies(url: str, epochs: np.ndarray, *, clients: int, per_client: int):
    def one_client(offset: int) -> list[float]:
        with httpx.Client(timeout=60) as client:
            return [
                timed_post(client, url, encode_batch(epochs[(offset + i) % len(epochs)][None]))
                for i in range(per_client)
            ]

    with ThreadPoolExecutor(max_workers=clients) as pool:
        runs = list(pool.map(one_client, range(0, clients * per_client, per_client)))
    return [latency for run in runs for latency in run]


def throughput(url: str, epochs: np.ndarray, *, batch: int, as_json: bool) -> float:
    """Epochs per second sending ``epochs`` sequentially in requests of ``batch`` epochs."""
    with httpx.Client(timeout=120) as client:
        started = time.perf_counter()
        for start in range(0, len(epochs), batch):
            part = epochs[start : start + batch]
            body = {"features": part.tolist()} if as_json else encode_batch(part)
            timed_post(client, url, body)
        return len(epochs) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="s per synthetic subject")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="p300-bench-gateway-"))
    demo = Demo(DemoConfig(home=home, duration_s=args.duration, use_wandb=False), progress=print)
    try:
        demo.start()
        demo.ingest()
        demo.train("v1", 0.5)
        clients = release_clients(str(home))
        url = route_url(api_base_url(clients.apigateway, clients.endpoint_url), "challenger")
        features = load_subject_features(cloud_clients(str(home)).s3, EVALUATION_SUBJECTS)
        epochs = np.concatenate([x for x, _ in features.values()]).astype(np.float32)

        with httpx.Client(timeout=60) as client:
            cold_s = timed_post(client, url, encode_batch(epochs[:1]))
            for i in range(10):  # warm the environment up before timing
                timed_post(client, url, encode_batch(epochs[i : i + 1]))
        one = percentiles_ms(single_epoch_latencies(url, epochs, clients=1, per_client=200))
        twenty = percentiles_ms(single_epoch_latencies(url, epochs, clients=20, per_client=20))
        batched_b64 = throughput(url, epochs, batch=256, as_json=False)
        batched_json = throughput(url, epochs, batch=256, as_json=True)
        per_epoch = throughput(url, epochs[:300], batch=1, as_json=True)
    finally:
        demo.stop()

    print(f"\n{len(epochs)} epochs of subjects {', '.join(EVALUATION_SUBJECTS)}; "
          f"{epochs.shape[1]} features each")  # fmt: skip
    print(f"first request after deploy (cold start): {cold_s * 1000:.0f} ms")
    print(f"{'single-epoch requests':<34}{'p50 ms':>9}{'p99 ms':>9}   targets 30 / 100 ms")
    print(f"{'  1 client, 200 requests':<34}{one[0]:>9.1f}{one[1]:>9.1f}")
    print(f"{'  20 clients, 20 requests each':<34}{twenty[0]:>9.1f}{twenty[1]:>9.1f}")
    print(f"{'throughput':<34}{'epochs/s':>9}{'x base':>9}   target 20,000 epochs/s")
    for name, value in [
        ("  System A: 1 epoch/request, JSON", per_epoch),
        ("  256 epochs/request, JSON lists", batched_json),
        ("  256 epochs/request, base64", batched_b64),
    ]:
        print(f"{name:<34}{value:>9.0f}{value / per_epoch:>9.1f}")


if __name__ == "__main__":
    main()
