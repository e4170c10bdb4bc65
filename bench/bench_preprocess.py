"""Benchmark System A preprocessing: MNE reference vs our fast path, per synthetic subject.

Each (subject, method) runs in a fresh Python process, so peak memory is that process's
``ru_maxrss`` and nothing is shared or cached between runs. Reported memory is the peak resident
set size during preprocessing minus the resident size just before it (the interpreter, imports
and the raw recording itself are excluded), plus the absolute peak.

Usage: ``.venv/bin/python bench/bench_preprocess.py [--subjects 10] [--duration-s 600]``
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SEED = 2026


def _rss_mb() -> float:
    """Current resident set size in MB (Linux /proc)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 1e6


def run_child(method: str, subject: int, duration_s: float, out: Path) -> None:
    """Preprocess one subject with ``method``; print timing and memory as JSON; save features."""
    from p300.preprocessing import preprocess
    from p300.synthetic import subject_session

    if method == "reference":
        import mne  # noqa: F401  (import cost is not preprocessing cost)
    recording = subject_session(seed=SEED, subject_number=subject, duration_s=duration_s)
    before_mb = _rss_mb()
    start = time.perf_counter()
    features = preprocess(recording, method=method)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3  # KiB on Linux
    np.savez(out, features=features.features, kept=features.metadata["kept"].to_numpy())
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "delta_mb": peak_mb - before_mb}))


def measure(method: str, subject: int, duration_s: float, out: Path) -> dict:
    """Run one child process and return its JSON report."""
    command = [sys.executable, __file__, "--child", method, "--subject", str(subject)]
    command += ["--duration-s", str(duration_s), "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def compare(fast_file: Path, reference_file: Path) -> tuple[float, bool]:
    """Max |fast − reference| relative to max |reference|, and whether the kept epochs agree."""
    fast, reference = np.load(fast_file), np.load(reference_file)
    same_kept = np.array_equal(fast["kept"], reference["kept"])
    if not same_kept or reference["features"].size == 0:
        return float("nan"), same_kept
    difference = np.abs(fast["features"].astype(np.float64) - reference["features"]).max()
    return float(difference / np.abs(reference["features"]).max()), same_kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=10)
    parser.add_argument("--duration-s", type=float, default=600.0)
    parser.add_argument("--child", choices=("fast", "reference"), help=argparse.SUPPRESS)
    parser.add_argument("--subject", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args.child, args.subject, args.duration_s, args.out)
        return

    header = (
        f"{'subject':>7} | {'ref s':>6} | {'fast s':>6} | {'speed-up':>8} | {'ref ΔMB':>7} | "
        f"{'fast ΔMB':>8} | {'ref peak':>8} | {'fast peak':>9} | {'max rel diff':>12} | kept"
    )
    print(f"{args.subjects} synthetic subjects × {args.duration_s:g} s, 16 ch, 512 Hz, seed {SEED}")
    print(header)
    print("-" * len(header))
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for subject in range(1, args.subjects + 1):
            files = {m: Path(scratch) / f"{m}_{subject}.npz" for m in ("fast", "reference")}
            ref = measure("reference", subject, args.duration_s, files["reference"])
            fast = measure("fast", subject, args.duration_s, files["fast"])
            difference, same_kept = compare(files["fast"], files["reference"])
            rows.append((ref, fast, difference, same_kept))
            print(
                f"{subject:>7} | {ref['seconds']:>6.2f} | {fast['seconds']:>6.3f} | "
                f"{ref['seconds'] / fast['seconds']:>7.1f}× | {ref['delta_mb']:>7.0f} | "
                f"{fast['delta_mb']:>8.0f} | {ref['peak_mb']:>8.0f} | {fast['peak_mb']:>9.0f} | "
                f"{difference:>12.1e} | {'same' if same_kept else 'DIFFERENT'}",
                flush=True,
            )
    ref_s = np.median([r[0]["seconds"] for r in rows])
    fast_s = np.median([r[1]["seconds"] for r in rows])
    print("-" * len(header))
    print(
        f"median: reference {ref_s:.2f} s, fast {fast_s:.3f} s, speed-up {ref_s / fast_s:.1f}×; "
        f"median ΔMB reference {np.median([r[0]['delta_mb'] for r in rows]):.0f}, "
        f"fast {np.median([r[1]['delta_mb'] for r in rows]):.0f}; "
        f"worst rel diff {max(r[2] for r in rows):.1e}; kept epochs identical: "
        f"{all(r[3] for r in rows)}"
    )


if __name__ == "__main__":
    main()
