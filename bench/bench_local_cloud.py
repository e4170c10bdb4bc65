"""Benchmark: `p300 up` from a stopped state, and a no-change deploy of the CDK app.

Uses a private temporary state home and free ports, and stops everything it started.

    .venv/bin/python bench/bench_local_cloud.py

The first `up` (fresh state: MLflow creates its database, CDK bootstraps) is reported beside the
timed one; the baseline for the deploy is LocalStack's bare start in the same run.
Targets: `up` from a stopped state ≤ 90 s once installed.
"""

import tempfile
import time
from pathlib import Path

from p300_ops.localcloud import cdk, lifecycle
from p300_ops.localcloud.processes import free_port
from p300_ops.services import layer_builds

UP_TARGET_S = 90.0


def _up(config) -> tuple[float, lifecycle.CloudState]:
    started = time.monotonic()
    state = lifecycle.up(config, progress=lambda _: None)
    return time.monotonic() - started, state


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="p300-bench-cloud-"))
    config = lifecycle.CloudConfig(home=home, localstack_port=free_port(), mlflow_port=free_port())
    first_s, _ = _up(config)
    lifecycle.down(home)
    up_s, state = _up(config)
    try:
        started = time.monotonic()
        layer_dirs = layer_builds.layer_dirs_context(layer_builds.build_all())
        cdk.deploy(
            home,
            localstack_port=state.localstack_port,
            context={"mlflowTrackingUri": state.tracking_uri, "layerDirs": layer_dirs},
        )
        no_change_s = time.monotonic() - started
    finally:
        lifecycle.down(home)
    steps = state.timings_s
    rows = [
        ("first up (fresh state)", first_s, ""),
        ("up from stopped state", up_s, f"{up_s / UP_TARGET_S:.2f} of the 90 s target"),
        ("  LocalStack start", steps["localstack"], "baseline"),
        (
            "  synth + bootstrap + deploy",
            steps["deploy"],
            f"{steps['deploy'] / steps['localstack']:.1f}x LocalStack start",
        ),
        ("  MLflow ready after deploy", steps["mlflow"], ""),
        (
            "no-change deploy",
            no_change_s,
            f"{no_change_s / steps['localstack']:.1f}x LocalStack start",
        ),
    ]
    print(f"{'what':<32}{'seconds':>9}  note")
    for what, seconds, note in rows:
        print(f"{what:<32}{seconds:>9.1f}  {note}")


if __name__ == "__main__":
    main()
