"""Benchmark: what each pipeline Lambda imports before its first answer, with only its layers.

For each function, a fresh Lambda-runtime interpreter (``.venv-lambda``) with the function's
``PYTHONPATH`` (code dir, then its layers) imports the handler and what the first invocation
imports lazily; wall and process CPU seconds, median of N runs. Builds the layers first.

With ``--baseline-ref REF`` the same is measured for commit REF too, in the same run: a temporary
``git worktree`` of REF builds its own layers with its own builder (into
``.p300-build/bench-baseline/<commit>/``, kept for the next run; the checkout's own
``.p300-build/layers`` is never touched), the two are measured interleaved (old, new, then new,
old, ...) and the ratio new/old is printed per function; the worktree is removed afterwards.
Each function's unzipped size (``p300 layers sizes``) is printed for both first.
``--importtime FUNCTION`` prints the heaviest imports (``python -X importtime``, cumulative) of
that function's cold path, for the baseline too when one is given.

    .venv/bin/python bench/bench_lambda_init.py [--runs 5] [--baseline-ref 7b9dc9b]
        [--importtime p300-ingest] [--top 25]
"""

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from p300_aws.names import (
    CHECK_DRIFT_FUNCTION,
    HEALTH_PROBE_FUNCTION,
    INGEST_FUNCTION,
    PLAN_FUNCTION,
    PREPROCESS_FUNCTION,
    UPLOAD_URL_FUNCTION,
)
from p300_ops import paths

#: What the first invocation imports after ``import handler`` (lazily imported modules; botocore's
#: first request is left out: the same in every version). numpy's ``unique`` loads numpy.ma (when
#: ingest validates a recording, when the drift check bins values): pandas loads it at import.
FIRST_CALL_IMPORTS = {
    PLAN_FUNCTION: "pass",
    INGEST_FUNCTION: "import numpy.ma",
    PREPROCESS_FUNCTION: "handler.tracker(); import p300.preprocessing.fast",
    CHECK_DRIFT_FUNCTION: "handler.reference_store(); import numpy.ma",
    HEALTH_PROBE_FUNCTION: "pass",
    UPLOAD_URL_FUNCTION: "pass",
}
_SCRIPT = (
    "import time; wall, cpu = time.perf_counter(), time.process_time(); import handler; {first}; "
    "print(time.perf_counter() - wall, time.process_time() - cpu)"
)
# Run with a checkout's own `src/` first on the path: builds its layers with its own builder
# (`p300_ops.services.layer_builds` since issue #11, `p300_ops.layers` before) and prints each
# function's PYTHONPATH as JSON.
_PYTHON_PATHS_SCRIPT = """
import json, sys
try:
    from p300_ops.services import layer_builds as builder
except ImportError:
    from p300_ops import layers as builder
builder.build_all()
sizes = {size.function: size.total_bytes for size in builder.function_sizes()}
paths = {f: builder.function_python_path(f) for f in json.loads(sys.argv[1])}
print(json.dumps({"python_paths": paths, "sizes": sizes}))
"""
BASELINE_CACHE = paths.REPO / ".p300-build" / "bench-baseline"
MIB = 1_048_576


@dataclass(frozen=True)
class Build:
    """A checkout's layers, built by its own builder."""

    #: Each measured function's PYTHONPATH (code dir, then its layers).
    python_paths: dict[str, str]
    #: Every function's unzipped size in bytes (code + layers), as ``p300 layers sizes`` adds up.
    sizes: dict[str, int]


def build_layers(checkout: Path) -> Build:
    """Build ``checkout``'s layers with its own builder; its functions' paths and sizes."""
    result = subprocess.run(
        [
            str(paths.PROJECT_BIN / "python"),
            "-c",
            _PYTHON_PATHS_SCRIPT,
            json.dumps(list(FIRST_CALL_IMPORTS)),
        ],
        env=os.environ | {"PYTHONPATH": str(checkout / "src")},
        capture_output=True,
        text=True,
        cwd=checkout,
    )
    if result.returncode != 0:
        raise RuntimeError(f"building the layers of {checkout} failed:\n{result.stderr[-3000:]}")
    return Build(**json.loads(result.stdout.splitlines()[-1]))


@contextlib.contextmanager
def baseline_checkout(ref: str) -> Iterator[Path]:
    """A temporary worktree of ``ref`` sharing this checkout's venvs, its layer builds cached
    under `BASELINE_CACHE`; removed on exit."""
    commit = _git("rev-parse", "--verify", f"{ref}^{{commit}}").strip()
    scratch = Path(tempfile.mkdtemp(prefix=f"p300-baseline-{commit[:8]}-"))
    checkout = scratch / "repo"
    _git("worktree", "add", "--detach", str(checkout), commit)
    try:
        for venv in (".venv", ".venv-lambda"):
            (checkout / venv).symlink_to(paths.REPO / venv)
        build_cache = BASELINE_CACHE / commit
        build_cache.mkdir(parents=True, exist_ok=True)
        (checkout / ".p300-build").symlink_to(build_cache)
        yield checkout
    finally:
        _git("worktree", "remove", "--force", str(checkout))
        shutil.rmtree(scratch, ignore_errors=True)


def init_seconds(function: str, python_path: str) -> tuple[float, float]:
    """Wall and CPU seconds of one cold import of ``function``'s handler in a fresh process."""
    script = _SCRIPT.format(first=FIRST_CALL_IMPORTS[function])
    result = run_lambda_python(function, python_path, ["-c", script])
    wall, cpu = map(float, result.stdout.split())
    return wall, cpu


def heaviest_imports(function: str, python_path: str, *, top: int) -> list[tuple[int, str]]:
    """The ``top`` imports of ``function``'s cold path by cumulative microseconds, heaviest
    first, as ``(µs, indented module name)`` from ``python -X importtime``."""
    script = f"import handler; {FIRST_CALL_IMPORTS[function]}"
    stderr = run_lambda_python(function, python_path, ["-X", "importtime", "-c", script]).stderr
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.removeprefix("import time:").split("|", 2)
        rows.append((int(cumulative), name.rstrip()))
    return sorted(rows, reverse=True)[:top]


def run_lambda_python(
    function: str, python_path: str, args: list[str]
) -> subprocess.CompletedProcess:
    """Run the Lambda runtime's interpreter with ``args`` and only ``python_path`` (a function's
    code and layers) on its path, as a cold environment starts; ``function`` names it in errors.
    Also used by bench_train_packaging."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": python_path,
        "AWS_DEFAULT_REGION": "us-east-1",
        "MLFLOW_TRACKING_URI": "http://127.0.0.1:9",  # never called: nothing is invoked
        "OPENBLAS_NUM_THREADS": "1",
    }
    result = subprocess.run(
        [str(paths.LAMBDA_PYTHON), *args], env=env, capture_output=True, text=True, cwd="/"
    )
    if result.returncode != 0:
        raise RuntimeError(f"{function} failed to import:\n{result.stderr[-2000:]}")
    return result


def _git(*args: str) -> str:
    command = ["git", "-C", str(paths.REPO), *args]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def measure(
    checkouts: dict[str, dict[str, str]], *, runs: int
) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """``runs`` cold imports per function and checkout (label → function → PYTHONPATH), the
    checkouts' order alternating from run to run; label → function → [(wall, CPU)]."""
    labels = list(checkouts)
    times = {label: {function: [] for function in FIRST_CALL_IMPORTS} for label in labels}
    for run in range(runs):
        order = labels if run % 2 == 0 else labels[::-1]
        for function in FIRST_CALL_IMPORTS:
            for label in order:
                times[label][function].append(init_seconds(function, checkouts[label][function]))
    return times


def print_sizes(builds: dict[str, Build]) -> None:
    labels = list(builds)
    print("unzipped size, MiB (code + layers): " + ", ".join(labels))
    for function in builds[labels[-1]].sizes:
        sizes = [builds[label].sizes.get(function) for label in labels]
        print(f"{function:<18}" + "".join(f" {_mib(size):>10}" for size in sizes))


def _mib(size: int | None) -> str:
    return "–" if size is None else f"{size / MIB:.1f}"


def print_table(times: dict[str, dict[str, list[tuple[float, float]]]], *, runs: int) -> None:
    labels = list(times)
    print(f"medians of {runs} runs, seconds: " + ", ".join(f"{label}" for label in labels))
    header = f"{'function':<18}" + "".join(f" {label + ' wall/CPU':>22}" for label in labels)
    if len(labels) == 2:
        header += f" {'new/old wall':>13} {'new/old CPU':>12}"
    print(header)
    for function in FIRST_CALL_IMPORTS:
        medians = [
            (
                statistics.median(w for w, _ in times[label][function]),
                statistics.median(c for _, c in times[label][function]),
            )
            for label in labels
        ]
        row = f"{function:<18}" + "".join(f" {w:>10.3f} / {c:<9.3f}" for w, c in medians)
        if len(labels) == 2:
            (old_wall, old_cpu), (new_wall, new_cpu) = medians
            row += f" {new_wall / old_wall:>13.2f} {new_cpu / old_cpu:>12.2f}"
        print(row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline-ref", help="also measure this commit (e.g. 7b9dc9b)")
    parser.add_argument("--importtime", choices=sorted(FIRST_CALL_IMPORTS), metavar="FUNCTION")
    parser.add_argument("--top", type=int, default=25, help="imports listed by --importtime")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        builds = {}
        if args.baseline_ref:
            baseline = stack.enter_context(baseline_checkout(args.baseline_ref))
            builds[f"old {args.baseline_ref}"] = build_layers(baseline)
        builds["new"] = build_layers(paths.REPO)
        print_sizes(builds)
        checkouts = {label: build.python_paths for label, build in builds.items()}
        print(f"1-min load average: {os.getloadavg()[0]:.1f}")
        if args.importtime:
            for label, function_paths in checkouts.items():
                print(f"\n{label}: heaviest imports of {args.importtime} (cumulative ms)")
                rows = heaviest_imports(
                    args.importtime, function_paths[args.importtime], top=args.top
                )
                for micros, name in rows:
                    print(f"{micros / 1000:>9.1f}  {name}")
            return
        print_table(measure(checkouts, runs=args.runs), runs=args.runs)
        print(f"1-min load average: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
