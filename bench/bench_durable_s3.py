"""Benchmark: what durable S3 costs per PutObject, and how long a restart takes to restore.

Starts two LocalStacks on free ports in the same run (private temporary homes): one with durable S3,
one plain (P300_S3_DATA_DIR empty). Measures sequential PutObject latency of small objects on both,
then, on the durable one, the restore time after a kill -9 holding 1,000 and 10,000 objects (the
time LocalStack itself logs for recovery, and the whole restart until healthy).

    .venv/bin/python bench/bench_durable_s3.py [--puts 500] [--object-bytes 1024]
        [--restore-counts 1000,10000]
"""

import argparse
import re
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from botocore.config import Config

from p300_ops.localcloud.localstack import aws_client, start_localstack
from p300_ops.localcloud.processes import ServerProcess, free_port, kill_server, stop_server

RESTORED_LINE = re.compile(r"durable S3: restored \d+ buckets, (\d+) keys, .* in ([\d.]+) s")
WARM_UP_PUTS = 50


def s3_client(server: ServerProcess):
    return aws_client(
        "s3", server.port, config=Config(retries={"max_attempts": 1}, max_pool_connections=16)
    )


def put_latencies_ms(
    servers: dict[str, ServerProcess], *, n_puts: int, object_bytes: int, block: int = 50
) -> dict[str, list[float]]:
    """Per-call PutObject time (ms) of `n_puts` sequential small objects on each server.

    The servers take turns in blocks of `block` calls, so drift of the machine hits them alike.
    """
    clients = {name: s3_client(server) for name, server in servers.items()}
    body = b"x" * object_bytes
    times: dict[str, list[float]] = {name: [] for name in servers}
    for s3 in clients.values():
        s3.create_bucket(Bucket="latency")
        for n in range(WARM_UP_PUTS):
            s3.put_object(Bucket="latency", Key=f"warm{n}", Body=body)
    for start in range(0, n_puts, block):
        for name, s3 in clients.items():
            for n in range(start, min(start + block, n_puts)):
                started = time.perf_counter()
                s3.put_object(Bucket="latency", Key=f"k{n:06d}", Body=body)
                times[name].append((time.perf_counter() - started) * 1000)
    return times


def fill(server: ServerProcess, *, bucket: str, n_objects: int) -> None:
    """Put `n_objects` small objects into `bucket`, with 8 client threads."""
    s3 = s3_client(server)
    s3.create_bucket(Bucket=bucket)
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda n: s3.put_object(Bucket=bucket, Key=f"o{n:06d}", Body=b"%d" % n),
                range(n_objects),
            )
        )


def last_restore(log_path: str) -> tuple[int, float]:
    """(keys restored, seconds) from the last recovery line LocalStack logged."""
    matches = RESTORED_LINE.findall(Path(log_path).read_text(errors="replace"))
    keys, seconds = matches[-1]
    return int(keys), float(seconds)


def restore_after_kill(home: Path, n_objects: int) -> tuple[float, tuple[int, float]]:
    """Fill a fresh durable LocalStack, kill -9 it, restart it: (restart s, last_restore())."""
    server = start_localstack(home, port=free_port())
    try:
        fill(server, bucket="restore", n_objects=n_objects)
    finally:
        kill_server(server)
    started = time.perf_counter()
    server = start_localstack(home, port=free_port())
    restart_s = time.perf_counter() - started
    stop_server(server)
    restored = last_restore(server.log_path)
    if restored[0] != n_objects:
        raise RuntimeError(f"restored {restored[0]} objects, stored {n_objects}")
    return restart_s, restored


def summary(times_ms: list[float]) -> tuple[float, float]:
    """(median, p95) in ms."""
    return statistics.median(times_ms), statistics.quantiles(times_ms, n=20)[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--puts", type=int, default=500)
    parser.add_argument("--object-bytes", type=int, default=1024)
    parser.add_argument("--restore-counts", default="1000,10000")
    args = parser.parse_args()
    counts = [int(c) for c in args.restore_counts.split(",")]

    with tempfile.TemporaryDirectory(prefix="bench-durable-s3-") as tmp:
        servers = {
            "plain": start_localstack(
                Path(tmp) / "plain", port=free_port(), env_overrides={"P300_S3_DATA_DIR": ""}
            ),
            "durable": start_localstack(Path(tmp) / "durable", port=free_port()),
        }
        try:
            latencies = put_latencies_ms(servers, n_puts=args.puts, object_bytes=args.object_bytes)
        finally:
            for server in servers.values():
                stop_server(server)
        print(f"PutObject of {args.object_bytes} B, {args.puts} sequential calls per server:")
        for name, times in latencies.items():
            median, p95 = summary(times)
            print(f"  {name:8s} median {median:6.2f} ms   p95 {p95:6.2f} ms")
        (plain_median, plain_p95) = summary(latencies["plain"])
        (durable_median, durable_p95) = summary(latencies["durable"])
        print(
            f"  added    median {durable_median - plain_median:+6.2f} ms   "
            f"p95 {durable_p95 - plain_p95:+6.2f} ms"
        )
        for count in counts:
            restart_s, (keys, restore_s) = restore_after_kill(Path(tmp) / f"restore-{count}", count)
            print(
                f"restore after kill -9 of {keys} objects: recovery {restore_s:.2f} s "
                f"({restore_s / keys * 1000:.3f} s per 1,000), restart until healthy "
                f"{restart_s:.1f} s"
            )


if __name__ == "__main__":
    main()
