"""Benchmark: `p300 up` after a `kill -9` of LocalStack, with the cloud state to restore.

Each cloud is filled the same way: 10 MLflow runs (4 preprocessings and 6 trainings), 6 Lambda
versions released by `deploy-model` with champion in a canary, 100 Step Functions executions, and
1,000 S3 objects beyond the pipeline's. Then LocalStack is killed and `p300 up` is timed, as a
user runs it.

With ``--baseline DIR`` (a checkout of an earlier commit, bootstrapped: ``DIR/p300 --help``), the
same is done with that checkout's `p300 up` on a second cloud, and the restarts alternate,
baseline first, so that both meet the same load:

    .venv/bin/python bench/bench_restart.py --baseline /tmp/p300-base --rounds 2

Target: `up` after a restart within 1.5× of the baseline's.
"""

import argparse
import io
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from p300_aws.names import CHALLENGER_ALIAS, CHAMPION_ALIAS, INGEST_STATE_MACHINE, PREDICT_FUNCTION
from p300_aws.planning import CatchUpRequest
from p300_ops import paths
from p300_ops.localcloud import lifecycle
from p300_ops.localcloud.localstack import aws_client
from p300_ops.localcloud.processes import free_port, kill_server
from p300_ops.services import pipeline_executions, release
from p300_ops.services.synthetic_subjects import generate_subjects
from p300_ops.services.training_runs import run_training, train_request

TARGET_RATIO = 1.5
SUBJECTS, TRAININGS, EXECUTIONS, OBJECTS = 4, 6, 100, 1000
CATCH_UP_BATCH = 3
STEP_LINE = re.compile(r"^\s+(\w+) ready in ([\d.]+) s$")


@dataclass
class Cloud:
    """One cloud of the benchmark: the checkout whose `p300 up` starts it, and its state home."""

    label: str
    checkout: Path
    home: Path
    port: int = field(default_factory=free_port)
    mlflow_port: int = field(default_factory=free_port)
    restarts: list[dict] = field(default_factory=list)

    def up(self) -> dict:
        """Run this checkout's `p300 up`; wall time and the steps it reports, in s."""
        started = time.monotonic()
        result = subprocess.run(
            [str(self.checkout / "p300"), "up", "--home", str(self.home), "--port",
             str(self.port), "--mlflow-port", str(self.mlflow_port)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        wall = time.monotonic() - started
        if result.returncode != 0:
            raise RuntimeError(f"{self.label}: p300 up failed:\n{result.stderr[-3000:]}")
        steps = {m[1]: float(m[2]) for line in result.stderr.splitlines()
                 if (m := STEP_LINE.match(line))}  # fmt: skip
        return {"wall": wall, **steps}

    def state(self) -> lifecycle.CloudState:
        return lifecycle.CloudState.load(self.home)

    def down(self) -> None:
        if self.state() is not None:
            lifecycle.down(self.home)


def fill(cloud: Cloud) -> None:
    """The benchmark's content (see the module docstring)."""
    state = cloud.state()
    s3, sfn, lam, apigw = (aws_client(name, state.localstack_port)
                           for name in ("s3", "stepfunctions", "lambda", "apigateway"))  # fmt: skip
    generate_subjects(s3, range(1, SUBJECTS + 1), seed=3, duration_s=60.0, form="system-a")
    _wait_idle(sfn)
    versions = [
        run_training(sfn, train_request(percentage=75, seed=seed)).output["model_version"]
        for seed in range(TRAININGS)
    ]
    for n, version in enumerate(versions):
        alias = CHAMPION_ALIAS if n % 2 else CHALLENGER_ALIAS
        release.deploy_model(lam, apigw, state.tracking_uri, alias, model_version=version)
    challenger = lam.get_alias(FunctionName=PREDICT_FUNCTION, Name=CHALLENGER_ALIAS)
    lam.update_alias(
        FunctionName=PREDICT_FUNCTION, Name=CHAMPION_ALIAS,
        RoutingConfig={"AdditionalVersionWeights": {challenger["FunctionVersion"]: 0.1}},
    )  # fmt: skip
    done = len(pipeline_executions.list_executions(sfn, limit=1000))
    request = CatchUpRequest(catch_up=True).model_dump()
    for batch in range(0, EXECUTIONS - done, CATCH_UP_BATCH):
        for n in range(batch, min(batch + CATCH_UP_BATCH, EXECUTIONS - done)):
            pipeline_executions.start_execution(
                sfn, INGEST_STATE_MACHINE, name=f"bench-catch-up-{n:03d}", request=request
            )
        _wait_idle(sfn)
    for n in range(OBJECTS):
        s3.upload_fileobj(io.BytesIO(b"x" * 1024), "p300-mlflow-artifacts", f"bench/{n:04d}")


def restart(cloud: Cloud) -> dict:
    kill_server(cloud.state().servers["localstack"])
    timings = cloud.up()
    cloud.restarts.append(timings)
    return timings


def _wait_idle(sfn, timeout: float = 1800.0) -> None:
    deadline = time.monotonic() + timeout
    while pipeline_executions.list_executions(sfn, status="RUNNING", limit=1000):
        if time.monotonic() > deadline:
            raise RuntimeError(f"executions still running after {timeout:.0f} s")
        time.sleep(1.0)


def _load() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="an earlier checkout, bootstrapped")
    parser.add_argument("--rounds", type=int, default=1, help="restarts of each cloud")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="p300-bench-restart-"))
    clouds = [Cloud("this checkout", paths.REPO, root / "current")]
    if args.baseline:
        clouds.insert(0, Cloud(f"baseline {args.baseline}", args.baseline, root / "baseline"))
    try:
        for cloud in clouds:
            cloud.up()
            fill(cloud)
        for round_ in range(args.rounds):
            for cloud in clouds:
                timings = restart(cloud)
                print(f"round {round_ + 1}, {cloud.label}: {timings} (load {_load()})", flush=True)
    finally:
        for cloud in clouds:
            cloud.down()
    print(f"\n{'cloud':<44}{'up after kill -9, s':>22}{'deploy':>9}{'restore':>9}")
    for cloud in clouds:
        for timings in cloud.restarts:
            print(f"{cloud.label:<44}{timings['wall']:>22.1f}{timings.get('deploy', 0):>9.1f}"
                  f"{timings.get('restore', 0):>9.1f}")  # fmt: skip
    if args.baseline:
        base, current = (sum(t["wall"] for t in c.restarts) / len(c.restarts) for c in clouds)
        print(f"\nmean ratio {current / base:.2f} (target ≤ {TARGET_RATIO})")


if __name__ == "__main__":
    main()
