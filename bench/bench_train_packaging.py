"""Benchmark: the train function's cold init as it runs locally (code + 5 layers on PYTHONPATH)
and as AWS runs its container image (``layers/train.Dockerfile``: everything in one directory,
``/var/task``).

The image cannot be built here (no Docker engine), so its file layout is reproduced
(`layer_builds.image_layout`): the same built layers hard-linked into one directory with the
handler, as the Dockerfile installs them.
Each run is a fresh Lambda-runtime interpreter (``.venv-lambda``) that imports the handler (which
imports mlflow.sklearn, skops, scikit-learn, pyarrow and matplotlib at init); the two layouts are
interleaved so that machine load hits both alike. Prints median wall and CPU seconds and the
ratio image / layers. Builds the layers first (cached).

    .venv/bin/python bench/bench_train_packaging.py [--runs 7]
"""

import argparse
import os
import statistics

from bench_lambda_init import run_lambda_python  # bench/ is the script's path

from p300_aws.names import TRAIN_FUNCTION
from p300_ops.services import layer_builds

_SCRIPT = (
    "import time; wall, cpu = time.perf_counter(), time.process_time(); import handler; "
    "print(time.perf_counter() - wall, time.process_time() - cpu)"
)


def init_seconds(python_path: str) -> tuple[float, float]:
    """Wall and CPU seconds of one cold import of the handler with ``python_path``."""
    result = run_lambda_python(TRAIN_FUNCTION, python_path, ["-c", _SCRIPT])
    wall, cpu = map(float, result.stdout.split())
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    layer_builds.build_all()
    layouts = {
        "layers (local)": layer_builds.function_python_path(TRAIN_FUNCTION),
        "image (AWS)": str(layer_builds.image_layout(TRAIN_FUNCTION)),
    }
    print(f"1-min load average before: {os.getloadavg()[0]:.1f}")
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in layouts}
    for _ in range(args.runs):
        for name, python_path in layouts.items():
            runs[name].append(init_seconds(python_path))
    print(f"1-min load average after: {os.getloadavg()[0]:.1f}")
    medians = {
        name: (statistics.median(w for w, _ in r), statistics.median(c for _, c in r))
        for name, r in runs.items()
    }
    base_wall, base_cpu = medians["layers (local)"]
    for name, (wall, cpu) in medians.items():
        print(
            f"{TRAIN_FUNCTION} init, {name:<15} wall median {wall:.2f} s, CPU median {cpu:.2f} s "
            f"(× layers: wall {wall / base_wall:.2f}, CPU {cpu / base_cpu:.2f}; {args.runs} runs)"
        )


if __name__ == "__main__":
    main()
