"""Benchmark: how the backfill's cost grows with the number of subjects (10, 50, 200).

Starts its own local cloud (`lifecycle.up` in a temporary home, free ports), then per count: a new
study, that many short synthetic subjects written straight to the raw bucket
(`p300_ops.services.synthetic_raw`, 10 s each by default), `p300 backfill` on it, waited for.
Per run it prints the wall time (start to end of the execution), the CPU time and the peak RSS of
the local cloud's process tree (LocalStack with its Lambda environments, MLflow; sampled every
0.2 s; also per process: LocalStack, its environments, MLflow), and the Lambda GB-s of the run's
invocations (REPORT lines, `p300_ops.services.cost`), each also per subject and as a ratio to the
10-subject run, and per subject added between two counts (the marginal figures, free of each
run's fixed overhead). A 4-subject warm-up run first
starts the Lambda environments, so that no count pays the cold starts alone. Batches of 2 keep
all 4 child executions busy from 10 subjects on: every count runs 4 environments at once.

    .venv/bin/python bench/bench_scaling.py [--counts 10,50,200] [--seconds 10] [--batch-size 2]
        [--tracemalloc FRAMES]

With ``--tracemalloc FRAMES`` LocalStack runs with ``P300_TRACEMALLOC=FRAMES`` (our extension's
opt-in tracing, `p300_localstack.diagnostics`): after the warm-up and after each count a snapshot
is written, and the allocation sites that grew most between two snapshots are printed, in MB and
MB per subject stored in between. Tracing slows LocalStack: its timings are not comparable.

Targets: per-subject wall, CPU and GB-s not more than 20 % above the 10-subject run's (falling
is fine: the fixed part spreads); peak RSS not growing with the count.
"""

import argparse
import itertools
import json
import os
import platform
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass

import psutil
from private_cloud import private_cloud

from p300.studies import new_study
from p300_aws.names import PLAN_FUNCTION, PREPROCESS_FUNCTION
from p300_aws.studies import create_study
from p300_ops import paths
from p300_ops.services import layer_builds
from p300_ops.services.backfill import start_backfill
from p300_ops.services.cloud import Cloud
from p300_ops.services.cost import function_invocations
from p300_ops.services.pipeline_executions import wait_for
from p300_ops.services.synthetic_raw import write_raw_subjects

FLAT_WITHIN = 0.20
SAMPLE_S = 0.2
WARM_UP_SUBJECTS = 4


class TreeSampler:
    """Peak RSS and CPU seconds of process trees, sampled in a thread while in its block; the
    peak is also kept per part: each named root process alone, and its descendants (for
    LocalStack, its Lambda environments)."""

    def __init__(self, roots: dict[str, psutil.Process]) -> None:
        self.roots = roots
        self.peak_rss = 0
        self.peak_rss_by_part: dict[str, int] = {}
        self._first_cpu: dict[int, float] = {}
        self._last_cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "TreeSampler":
        self._sample(first=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def cpu_s(self) -> float:
        """CPU seconds (user + system) the tree used in the block, processes that ended
        between two samples counted up to their last sample."""
        return sum(last - self._first_cpu.get(pid, 0.0) for pid, last in self._last_cpu.items())

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            self._sample()

    def _sample(self, *, first: bool = False) -> None:
        parts: dict[str, int] = {}
        for name, root in self.roots.items():
            try:
                family = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
            for proc in family:
                part = name if proc.pid == root.pid else f"{name}'s children"
                try:
                    with proc.oneshot():
                        parts[part] = parts.get(part, 0) + proc.memory_info().rss
                        times = proc.cpu_times()
                except psutil.NoSuchProcess:
                    continue
                cpu = times.user + times.system
                if first:
                    self._first_cpu[proc.pid] = cpu
                self._last_cpu[proc.pid] = cpu
        self.peak_rss = max(self.peak_rss, sum(parts.values()))
        for part, rss in parts.items():
            self.peak_rss_by_part[part] = max(self.peak_rss_by_part.get(part, 0), rss)


@dataclass(frozen=True)
class RunFigures:
    subjects: int
    status: str
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    gb_s: float
    invocations: int
    peak_rss_mb_by_part: dict[str, float]


def gb_s_so_far(aws: Cloud) -> tuple[float, int, set[str]]:
    """GB-s and count of every preprocess and plan invocation logged so far, and their ids."""
    invocations = [
        inv
        for name in (PREPROCESS_FUNCTION, PLAN_FUNCTION)
        for inv in function_invocations(aws, name)[0]
    ]
    return sum(i.gb_s for i in invocations), len(invocations), {i.request_id for i in invocations}


def run_backfill(
    aws: Cloud,
    roots: dict[str, psutil.Process],
    n: int,
    *,
    seconds: float,
    batch_size: int,
    label: str = "scale",
) -> RunFigures:
    study = f"{label}-{n}-{os.getpid()}"
    create_study(aws.s3, new_study(study))
    write_raw_subjects(aws.s3, study, n, duration_s=seconds)
    gb_before, count_before, _ = gb_s_so_far(aws)
    with TreeSampler(roots) as sampler:
        started = time.perf_counter()
        arn = start_backfill(aws, study, batch_size=batch_size).execution_arn
        described = wait_for(aws.stepfunctions, arn, timeout=3600, poll_s=0.5)
        wall = time.perf_counter() - started
    # The runtime posts each invocation's logs before its result: all are in by now, but
    # CloudWatch Logs may take a moment to list the last ones.
    time.sleep(2)
    gb_after, count_after, _ = gb_s_so_far(aws)
    return RunFigures(
        subjects=n,
        status=described["status"],
        wall_s=wall,
        cpu_s=sampler.cpu_s,
        peak_rss_mb=sampler.peak_rss / 2**20,
        gb_s=gb_after - gb_before,
        invocations=count_after - count_before,
        peak_rss_mb_by_part={k: v / 2**20 for k, v in sampler.peak_rss_by_part.items()},
    )


def tracemalloc_snapshot(endpoint_url: str, label: str) -> dict:
    """Have the traced LocalStack write a snapshot; its path, traced bytes and RSS."""
    request = urllib.request.Request(f"{endpoint_url}/_p300/tracemalloc/{label}", method="POST")
    with urllib.request.urlopen(request, timeout=300) as response:
        return json.loads(response.read())


def print_growth(before: dict, after: dict, subjects: int, *, frames: int) -> None:
    """The allocation sites that grew most from snapshot `before` to `after`, per subject; with
    more than one frame traced, each site with its call stack."""
    print(
        f"tracemalloc, {subjects} subjects stored: traced "
        f"{before['traced_bytes'] / 2**20:.0f} -> {after['traced_bytes'] / 2**20:.0f} MB, "
        f"RSS {before['rss_bytes'] / 2**20:.0f} -> {after['rss_bytes'] / 2**20:.0f} MB",
        flush=True,
    )
    command = [str(paths.LOCALSTACK_PYTHON), "-m", "p300_localstack.diagnostics.memory_growth",
               before["path"], after["path"], "--units", str(subjects), "--top", "12",
               "--group-by", "traceback" if frames > 1 else "lineno"]  # fmt: skip
    subprocess.run(command, check=True)


def print_figures(runs: list[RunFigures]) -> None:
    base = runs[0]
    per = {
        "wall s": lambda r: r.wall_s / r.subjects,
        "CPU s": lambda r: r.cpu_s / r.subjects,
        "GB-s": lambda r: r.gb_s / r.subjects,
    }
    header = (
        f"{'subjects':>8} {'status':>9} {'wall s':>8} {'CPU s':>8} {'peak RSS MB':>11} "
        f"{'GB-s':>8} {'invokes':>7} | per subject: "
        + " ".join(f"{k:>8} {'ratio':>5}" for k in per)
        + f" | {'RSS ratio':>9}"
    )
    print(header)
    for r in runs:
        cells = " ".join(f"{f(r):8.3f} {f(r) / f(base):5.2f}" for f in per.values())
        print(
            f"{r.subjects:8d} {r.status:>9} {r.wall_s:8.1f} {r.cpu_s:8.1f} "
            f"{r.peak_rss_mb:11.0f} {r.gb_s:8.1f} {r.invocations:7d} | per subject: {cells} "
            f"| {r.peak_rss_mb / base.peak_rss_mb:9.2f}"
        )
    for before, after in itertools.pairwise(runs):
        added = after.subjects - before.subjects
        marginal = {"wall s": after.wall_s - before.wall_s, "CPU s": after.cpu_s - before.cpu_s,
                    "GB-s": after.gb_s - before.gb_s}  # fmt: skip
        print(f"per subject added from {before.subjects} to {after.subjects}: "
              + ", ".join(f"{k} {v / added:.3f}" for k, v in marginal.items()))  # fmt: skip
    for r in runs:
        parts = sorted(r.peak_rss_mb_by_part.items())
        print(f"peak RSS MB by process at {r.subjects} subjects: "
              + ", ".join(f"{name} {mb:.0f}" for name, mb in parts))  # fmt: skip
    # Linear or better: a per-subject figure may fall as a run's fixed cost spreads over more
    # subjects, but must not rise by more than FLAT_WITHIN; nor may the peak memory.
    flat = all(f(r) / f(base) <= 1 + FLAT_WITHIN for r in runs for f in per.values()) and all(
        r.peak_rss_mb <= base.peak_rss_mb * (1 + FLAT_WITHIN) for r in runs
    )
    print(
        f"\nno per-subject figure and no peak RSS more than {FLAT_WITHIN:.0%} above the "
        f"{base.subjects}-subject run's: {'yes' if flat else 'NO'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="10,50,200", help="comma-separated subject counts")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per recording")
    parser.add_argument("--batch-size", type=int, default=2, help="subjects per child execution")
    parser.add_argument(
        "--tracemalloc", type=int, default=0, metavar="FRAMES",
        help="trace LocalStack's allocations, keeping FRAMES frames (off by default)",
    )  # fmt: skip
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]

    print("building layers ...", flush=True)
    layer_builds.build_all(progress=print)
    print("starting the local cloud (deploys the stack) ...", flush=True)
    traced = {"P300_TRACEMALLOC": str(args.tracemalloc)} if args.tracemalloc else {}
    with private_cloud("bench-scaling-", localstack_env=traced) as state:
        aws = Cloud(state)
        roots = {n: p for n, s in state.servers.items() if (p := s.process()) is not None}
        print(
            f"machine: {platform.node()}, {psutil.cpu_count()} CPUs, "
            f"{psutil.virtual_memory().total / 2**30:.0f} GiB, Python "
            f"{platform.python_version()}; {args.seconds:g} s recordings, "
            f"batches of {args.batch_size}",
            flush=True,
        )
        print(f"warm-up: {WARM_UP_SUBJECTS} subjects ...", flush=True)
        options = {"seconds": args.seconds, "batch_size": args.batch_size}
        run_backfill(aws, roots, WARM_UP_SUBJECTS, label="warm-up", **options)
        snapshots = (
            [tracemalloc_snapshot(state.endpoint_url, "warm-up")] if args.tracemalloc else []
        )
        runs = []
        for n in counts:
            load = os.getloadavg()[0]
            runs.append(run_backfill(aws, roots, n, **options))
            print(
                f"  {n} subjects: {runs[-1].wall_s:.1f} s ({runs[-1].status}); "
                f"1-min load before {load:.1f}, after {os.getloadavg()[0]:.1f}",
                flush=True,
            )
            if args.tracemalloc:
                snapshots.append(tracemalloc_snapshot(state.endpoint_url, f"after-{n}"))
                print_growth(snapshots[-2], snapshots[-1], n, frames=args.tracemalloc)
        print()
        print_figures(runs)


if __name__ == "__main__":
    main()
