"""The real-data report (`p300.real_data`) on every recording of a folder, in one command.

Per recording: epochs kept and ROC-AUC per rejection policy (none, System A's fixed 100 µV, the
robust policy at k = 3, 4 and the default 5), ROC-AUC per model, the calibrated choice,
cross-session ROC-AUC where a subject has several sessions, and for spellers the character
accuracy by repetitions of a calibration on the first 3 characters against a plain offline LDA.
Then, for the spellers, how far a flash at the very start of a short window strays from its
features in the whole recording, with MNE's odd-reflection padding and with the mirror.

BLAS runs on one thread: on a shared 2-core machine two threads are slower (docs/benchmarks.md).

Usage: ``.venv/bin/python bench/bench_real_data.py [FOLDER] [--json out.json]``; FOLDER defaults
to ``$P300_SHARED_DATA`` (the shared real recordings).
"""

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from p300.preprocessing import PreprocessingParams, preprocess
from p300.real_data import POLICIES, evaluate_folder, format_report, load_folder

#: The compared policies: the report's three, and the robust policy at narrower widths.
BENCH_POLICIES = {
    **POLICIES,
    "robust k=4": PreprocessingParams(rejection="robust", reject_robust_k=4.0),
    "robust k=3": PreprocessingParams(rejection="robust", reject_robust_k=3.0),
}
#: Flashes sampled per speller for the edge-padding measurement.
N_EDGE_FLASHES = 40


def edge_errors(folder: Path) -> list[str]:
    """Median relative L2 error of a window-start flash's epoch, per padding, per speller."""
    params = PreprocessingParams(rejection="none")
    lines = []
    for recording in load_folder(folder):
        if recording.speller is None:
            continue
        raw = recording.raw
        whole = preprocess(raw, params)
        onsets = raw.onsets
        before = -round(params.tmin * raw.sfreq)
        sampled = np.linspace(20, len(onsets) - 20, N_EDGE_FLASHES).astype(int)
        errors = {"reflect_limited": [], "symmetric": []}
        for flash in sampled:
            start, stop = onsets[flash] - before, onsets[flash] + int(3 * raw.sfreq)
            stim = np.zeros(stop - start, dtype=raw.stim.dtype)
            stim[before] = raw.stim[onsets[flash]]
            window = dataclasses.replace(
                raw, data=raw.data[:, start:stop], stim=stim, stim_item=None
            )
            reference = whole.epochs[whole.metadata["epoch_index"].iloc[flash]]
            for pad, found in errors.items():
                epoch = preprocess(window, params, pad=pad).epochs[0]
                found.append(np.linalg.norm(epoch - reference) / np.linalg.norm(reference))
        summary = ", ".join(f"{pad} {np.median(found):.2f}" for pad, found in errors.items())
        lines.append(f"- {recording.name}: median relative error {summary}")
    return lines


def machine() -> str:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    load = os.getloadavg()[0]
    return (
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}, {platform.node()}: {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, commit {commit or '?'}, 1-min load {load:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default=os.environ.get("P300_SHARED_DATA"))
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if not args.folder:
        parser.error("give FOLDER or set P300_SHARED_DATA")
    print(f"# Real-data report: {args.folder}\n\n{machine()}\n")
    started = time.perf_counter()
    with threadpool_limits(limits=1, user_api="blas"):
        report = evaluate_folder(args.folder, policies=BENCH_POLICIES)
        edges = edge_errors(Path(args.folder))
    print(format_report(report))
    print("Edge flashes: a flash 0.1 s after a 3 s window's start vs the whole recording:\n")
    print("\n".join(edges))
    seconds = {r.name: round(r.seconds, 1) for r in report.recordings}
    print(f"\nSeconds per recording: {seconds}; total {time.perf_counter() - started:.0f} s")
    print(machine())
    if args.json:
        args.json.write_text(json.dumps(report.to_dict(), indent=1, default=float))


if __name__ == "__main__":
    main()
