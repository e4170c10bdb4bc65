"""Deploy the CDK app to LocalStack with the pinned CDK CLI (cdklocal).

The app is synthesized once into the state home while the environment is bootstrapped in
parallel (bootstrapping from a folder without cdk.json does not run the app); the deploy then
reads the synthesized assembly.
"""

import os
import subprocess
from pathlib import Path

from p300_ops import paths
from p300_ops.localcloud.localstack import REGION, client_env
from p300_ops.localcloud.processes import LocalCloudError

STACK_NAME = "P300Platform"
ACCOUNT = "000000000000"
CDK_FLAGS = ["--no-notices", "--ci"]


def _cdklocal(args: list[str], *, localstack_port: int, cwd: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        **client_env(localstack_port),
        "PATH": f"{paths.PROJECT_BIN}:{paths.NODE_BIN}:{os.environ.get('PATH', '')}",
        # jsii (the CDK library's Node bridge) prints a banner about Node 20's end of life.
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "CDK_DISABLE_VERSION_CHECK": "1",
        "CDK_DEFAULT_ACCOUNT": ACCOUNT,
        "CDK_DEFAULT_REGION": REGION,
    }
    return subprocess.Popen(
        [str(paths.NODE_BIN / "cdklocal"), *args, *CDK_FLAGS],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(proc: subprocess.Popen, what: str) -> str:
    output, _ = proc.communicate()
    if proc.returncode != 0:
        raise LocalCloudError(
            f"`cdklocal {what}` failed (exit {proc.returncode}):\n{output[-4000:]}"
        )
    return output


def deploy(
    home: Path, *, localstack_port: int, context: dict[str, str], app_dir: Path = paths.REPO
) -> str:
    """Bootstrap the environment (idempotent), synthesize the app and deploy every stack.

    `app_dir` holds the app's cdk.json: the platform by default.
    """
    assembly = home / "cdk.out"
    context_args = [
        arg for key, value in context.items() for arg in ("--context", f"{key}={value}")
    ]
    bootstrap = _cdklocal(
        ["bootstrap", f"aws://{ACCOUNT}/{REGION}"], localstack_port=localstack_port, cwd=home
    )
    synth = _cdklocal(
        ["synth", "--quiet", "--output", str(assembly), *context_args],
        localstack_port=localstack_port,
        cwd=app_dir,
    )
    _finish(synth, "synth")
    _finish(bootstrap, "bootstrap")
    deploy_run = _cdklocal(
        ["deploy", "--all", "--app", str(assembly), "--require-approval", "never"],
        localstack_port=localstack_port,
        cwd=home,
    )
    return _finish(deploy_run, "deploy")
