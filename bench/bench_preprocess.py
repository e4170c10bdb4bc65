"""Benchmark System A preprocessing: MNE reference vs our fast path, per synthetic subject.

The parent generates each subject once and stores it; each (subject, method) then runs in a fresh
Python process that loads the recording and preprocesses it once, so nothing is shared or cached
between runs. Peak memory is the child's high-water resident set size (``VmHWM`` in
/proc/self/status, reset just before preprocessing), reported as the absolute peak and as the peak
minus the resident size just before preprocessing (interpreter, imports and the loaded recording
excluded). Not ``ru_maxrss``: on Linux a spawned child inherits its parent's high-water mark.
Times are one cold call each: wall-clock and process CPU time.

Usage: ``.venv/bin/python bench/bench_preprocess.py [--subjects 10] [--duration-s 600]``
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from p300.synthetic import BRAIN_INVADERS_CHANNELS, subject_session
from p300.types import RawRecording

SEED = 2026


def _status_mb(field: str) -> float:
    """A memory field of /proc/self/status (e.g. VmRSS, VmHWM) in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError(f"/proc/self/status has no {field}")


def _reset_peak_rss() -> None:
    """Restart VmHWM from the current resident size (Linux ≥ 4.0; '5' resets the peak)."""
    Path("/proc/self/clear_refs").write_text("5")


def save_recording(subject: int, duration_s: float, path: Path) -> None:
    """Generate one subject and store it: children only load it (no generation memory peak)."""
    recording = subject_session(seed=SEED, subject_number=subject, duration_s=duration_s)
    np.savez(path, data=recording.data, stim=recording.stim, sfreq=recording.sfreq)


def run_child(method: str, recording_file: Path, out: Path) -> None:
    """Preprocess a stored recording with ``method``; report time, memory; save features."""
    from p300.preprocessing import preprocess

    if method == "reference":
        import mne  # noqa: F401  (import cost is not preprocessing cost)
    stored = np.load(recording_file)
    recording = RawRecording(
        data=stored["data"],
        ch_names=BRAIN_INVADERS_CHANNELS,
        sfreq=float(stored["sfreq"]),
        stim=stored["stim"],
    )
    _reset_peak_rss()
    before_mb = _status_mb("VmRSS")
    start, start_cpu = time.perf_counter(), time.process_time()
    features = preprocess(recording, method=method)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - start_cpu
    peak_mb = _status_mb("VmHWM")
    np.savez(out, features=features.features, kept=features.metadata["kept"].to_numpy())
    report = {"seconds": seconds, "cpu_seconds": cpu_seconds, "peak_mb": peak_mb}
    print(json.dumps(report | {"delta_mb": peak_mb - before_mb}))


def measure(method: str, recording_file: Path, out: Path) -> dict:
    """Run one child process and return its JSON report."""
    command = [sys.executable, __file__, "--child", method, "--recording", str(recording_file)]
    command += ["--out", str(out)]
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
    parser.add_argument("--recording", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args.child, args.recording, args.out)
        return

    header = (
        f"{'subject':>7} | {'ref s':>6} | {'fast s':>6} | {'speed-up':>8} | {'ref cpu':>7} | "
        f"{'fast cpu':>8} | {'ref ΔMB':>7} | {'fast ΔMB':>8} | {'ref peak':>8} | "
        f"{'fast peak':>9} | {'max rel diff':>12} | kept"
    )
    print(f"{args.subjects} synthetic subjects × {args.duration_s:g} s, 16 ch, 512 Hz, seed {SEED}")
    print("s = wall-clock, cpu = process CPU time (s), MB = resident memory (VmHWM)")
    print(header)
    print("-" * len(header))
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for subject in range(1, args.subjects + 1):
            files = {m: Path(scratch) / f"{m}_{subject}.npz" for m in ("fast", "reference")}
            recording_file = Path(scratch) / f"recording_{subject}.npz"
            save_recording(subject, args.duration_s, recording_file)
            ref = measure("reference", recording_file, files["reference"])
            fast = measure("fast", recording_file, files["fast"])
            difference, same_kept = compare(files["fast"], files["reference"])
            rows.append({"ref": ref, "fast": fast, "diff": difference, "same": same_kept})
            print(
                f"{subject:>7} | {ref['seconds']:>6.2f} | {fast['seconds']:>6.3f} | "
                f"{ref['seconds'] / fast['seconds']:>7.1f}× | {ref['cpu_seconds']:>7.2f} | "
                f"{fast['cpu_seconds']:>8.3f} | {ref['delta_mb']:>7.0f} | "
                f"{fast['delta_mb']:>8.0f} | {ref['peak_mb']:>8.0f} | {fast['peak_mb']:>9.0f} | "
                f"{difference:>12.1e} | {'same' if same_kept else 'DIFFERENT'}",
                flush=True,
            )
    print("-" * len(header))
    print(_summary(rows))


def _summary(rows: list[dict]) -> str:
    """Medians over subjects, the worst difference and whether every kept set matched."""

    def median(method: str, key: str) -> float:
        return float(np.median([row[method][key] for row in rows]))

    ref_s, fast_s = median("ref", "seconds"), median("fast", "seconds")
    ref_cpu, fast_cpu = median("ref", "cpu_seconds"), median("fast", "cpu_seconds")
    return (
        f"median wall: reference {ref_s:.2f} s, fast {fast_s:.3f} s ({ref_s / fast_s:.1f}×); "
        f"median CPU: reference {ref_cpu:.2f} s, fast {fast_cpu:.3f} s "
        f"({ref_cpu / fast_cpu:.1f}×)\n"
        f"median memory above baseline: reference {median('ref', 'delta_mb'):.0f} MB, "
        f"fast {median('fast', 'delta_mb'):.0f} MB; peak RSS: reference "
        f"{median('ref', 'peak_mb'):.0f} MB, fast {median('fast', 'peak_mb'):.0f} MB\n"
        f"worst max|fast − ref| / max|ref|: {max(row['diff'] for row in rows):.1e}; "
        f"kept epochs identical for every subject: {all(row['same'] for row in rows)}"
    )


if __name__ == "__main__":
    main()
