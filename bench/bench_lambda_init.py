"""Benchmark: what each pipeline Lambda imports before its first answer, with only its layers.

For each function, a fresh Lambda-runtime interpreter (``.venv-lambda``) with the function's
``PYTHONPATH`` (code dir, then its layers) imports the handler and what the first invocation
imports lazily; wall and process CPU seconds, median of N runs. Builds the layers first.

    .venv/bin/python bench/bench_lambda_init.py [--runs 5]
"""

import argparse
import os
import statistics
import subprocess

from p300_aws.names import (
    CHECK_DRIFT_FUNCTION,
    HEALTH_PROBE_FUNCTION,
    INGEST_FUNCTION,
    PLAN_FUNCTION,
    PREPROCESS_FUNCTION,
    UPLOAD_URL_FUNCTION,
)
from p300_ops import paths
from p300_ops.services import layer_builds

#: What the first invocation imports after ``import handler`` (lazily imported modules).
FIRST_CALL_IMPORTS = {
    PLAN_FUNCTION: "pass",
    INGEST_FUNCTION: "pass",
    PREPROCESS_FUNCTION: "handler.tracker(); import p300.preprocessing.fast",
    CHECK_DRIFT_FUNCTION: "handler.reference_store()",
    HEALTH_PROBE_FUNCTION: "pass",
    UPLOAD_URL_FUNCTION: "pass",
}
_SCRIPT = (
    "import time; wall, cpu = time.perf_counter(), time.process_time(); import handler; {first}; "
    "print(time.perf_counter() - wall, time.process_time() - cpu)"
)


def init_seconds(function: str) -> tuple[float, float]:
    """Wall and CPU seconds of one cold import of ``function``'s handler in a fresh process."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": layer_builds.function_python_path(function),
        "AWS_DEFAULT_REGION": "us-east-1",
        "MLFLOW_TRACKING_URI": "http://127.0.0.1:9",  # never called: nothing is invoked
        "OPENBLAS_NUM_THREADS": "1",
    }
    script = _SCRIPT.format(first=FIRST_CALL_IMPORTS[function])
    result = subprocess.run(
        [str(paths.LAMBDA_PYTHON), "-c", script], env=env, capture_output=True, text=True, cwd="/"
    )
    if result.returncode != 0:
        raise RuntimeError(f"{function} failed to import:\n{result.stderr[-2000:]}")
    wall, cpu = map(float, result.stdout.split())
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    layer_builds.build_all()
    print(f"1-min load average: {os.getloadavg()[0]:.1f}")
    for function in FIRST_CALL_IMPORTS:
        runs = [init_seconds(function) for _ in range(args.runs)]
        print(
            f"{function:<18} wall median {statistics.median(w for w, _ in runs):.2f} s, "
            f"CPU median {statistics.median(c for _, c in runs):.2f} s ({args.runs} runs)"
        )


if __name__ == "__main__":
    main()
