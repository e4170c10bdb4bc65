"""Benchmark: raw-file validation and features I/O, the data-contract steps of every Lambda.

    .venv/bin/python bench/bench_io.py

Validation of one subject (10 minutes, 16 ch, 512 Hz, System A's file) beside the bare Parquet
read of the same bytes (the baseline, in the same run); writing and reading the features of 10
subjects. Target: validation well under 1 s.
"""

import io
import statistics
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from p300.features_io import features_to_parquet_bytes, read_training_set
from p300.preprocessing import preprocess
from p300.raw_io import read_recording, validate_recording_bytes
from p300.synthetic import make_session, write_system_a_layout


def _best_and_median(action, repeats: int = 5) -> tuple[float, float]:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return min(timings), statistics.median(timings)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = write_system_a_layout(Path(tmp), n_subjects=1, seed=1)[0]
        raw_bytes = path.read_bytes()
    features = [
        preprocess(make_session(seed=s, subject=f"{s:02d}", duration_s=600.0)) for s in range(1, 11)
    ]
    rows = [
        (
            "parquet read only (baseline)",
            *_best_and_median(lambda: pq.read_table(io.BytesIO(raw_bytes))),
        ),
        ("validate 1 subject", *_best_and_median(lambda: validate_recording_bytes(raw_bytes))),
        ("read_recording 1 subject", *_best_and_median(lambda: read_recording(raw_bytes))),
    ]
    blobs = [features_to_parquet_bytes(f) for f in features]
    rows.append(
        (
            "write features, 10 subjects",
            *_best_and_median(lambda: [features_to_parquet_bytes(f) for f in features]),
        )
    )
    rows.append(
        ("read training set, 10 subjects", *_best_and_median(lambda: read_training_set(blobs)))
    )
    base = rows[0][1]
    print(f"raw file: {len(raw_bytes) / 1e6:.1f} MB; features: {sum(map(len, blobs)) / 1e6:.1f} MB")
    print(f"{'step':<34}{'best s':>9}{'median s':>10}{'x baseline':>12}")
    for name, best, median in rows:
        print(f"{name:<34}{best:>9.3f}{median:>10.3f}{best / base:>12.1f}")


if __name__ == "__main__":
    main()
