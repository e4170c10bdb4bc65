"""LocalStack's own CPU per request on a bare instance (no MLflow, no CDK app), with and
without our speed-up patches; used by bench_serving_gateway.py.

    .venv/bin/python bench/localstack_cpu.py [--requests 300]

One function whose handler answers at once, behind a REST API proxy route; per request kind
(``health``: LocalStack's health endpoint, ``invoke``: ``lambda.Invoke`` through boto3,
``gateway``: a POST through API Gateway) the CPU seconds of the LocalStack process alone (its
Lambda environments are children, not counted) over ``--requests`` warm requests.

And the same requests against MiniStack (a peer emulator from PyPI whose default "local" Lambda
executor runs Python functions without Docker), as a baseline: its server process's CPU and the
invoke's wall time. The bench installs the pinned `MINISTACK` into a venv of its own under
``.p300-build/`` on first use (``--ministack PYTHON`` uses another interpreter that has it,
``--no-peer`` skips it).
"""

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import httpx
import psutil

from p300_ops.localcloud.localstack import aws_client, endpoint_url, start_localstack
from p300_ops.localcloud.processes import free_port, stop_server

#: The patches that only make LocalStack faster (`p300_localstack.patches.FIXES`).
SPEED_PATCHES = (
    "batched_lambda_telemetry",
    "in_memory_internal_clients",
    "metric_data_one_transaction",
)
KINDS = ("health", "invoke", "gateway")
HANDLER = 'def handler(event, context):\n    return {"statusCode": 200, "body": "ok"}\n'
ROLE = "arn:aws:iam::000000000000:role/bench"


def handler_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", HANDLER)
    return buffer.getvalue()


def proxy_route(port: int) -> str:
    """Create function ``fast`` and a REST API ``/x`` proxying to it; the route's URL."""
    lam, apigw = aws_client("lambda", port), aws_client("apigateway", port)
    lam.create_function(FunctionName="fast", Runtime="python3.13", Role=ROLE,
                        Handler="index.handler", Code={"ZipFile": handler_zip()})  # fmt: skip
    lam.get_waiter("function_active_v2").wait(FunctionName="fast")
    arn = lam.get_function(FunctionName="fast")["Configuration"]["FunctionArn"]
    api = apigw.create_rest_api(name="bench")["id"]
    root = apigw.get_resources(restApiId=api)["items"][0]["id"]
    resource = apigw.create_resource(restApiId=api, parentId=root, pathPart="x")["id"]
    apigw.put_method(restApiId=api, resourceId=resource, httpMethod="POST",
                     authorizationType="NONE")  # fmt: skip
    uri = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations"
    apigw.put_integration(restApiId=api, resourceId=resource, httpMethod="POST",
                          type="AWS_PROXY", integrationHttpMethod="POST", uri=uri)  # fmt: skip
    apigw.create_deployment(restApiId=api, stageName="s")
    return f"{endpoint_url(port)}/_aws/execute-api/{api}/s/x"


def cpu_per_request(*, disabled: str, requests: int) -> dict[str, float]:
    """CPU ms of the LocalStack process per request of each kind, with the patches named in
    ``disabled`` (``P300_DISABLED_PATCHES``) switched off; ``invoke_wall`` ms too."""
    home = Path(tempfile.mkdtemp(prefix="p300-bench-ls-cpu-"))
    server = start_localstack(home, port=free_port(),
                              env_overrides={"P300_DISABLED_PATCHES": disabled})  # fmt: skip
    try:
        return measure(server.pid, server.port, requests=requests, health="_localstack/health")
    finally:
        stop_server(server)


def ministack_cpu(python: str, *, requests: int) -> dict[str, float]:
    """`cpu_per_request` against MiniStack run by ``python`` on a free loopback port."""
    port, home = free_port(), Path(tempfile.mkdtemp(prefix="p300-bench-ministack-"))
    env = {**os.environ, "GATEWAY_PORT": str(port), "BIND_HOST": "127.0.0.1", "TMPDIR": str(home)}
    with (home / "ministack.log").open("wb") as log:
        server = subprocess.Popen([python, "-m", "ministack"], env=env, cwd=home,
                                  stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not _answers(f"{endpoint_url(port)}/_ministack/health"):
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError(f"MiniStack did not start: see {home / 'ministack.log'}")
            time.sleep(0.2)
        return measure(server.pid, port, requests=requests, health="_ministack/health")
    finally:
        server.terminate()
        server.wait(30)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def measure(pid: int, port: int, *, requests: int, health: str) -> dict[str, float]:
    """CPU ms of process ``pid`` per request of each kind, and the invoke's median wall ms."""
    process = psutil.Process(pid)
    url, lam = proxy_route(port), aws_client("lambda", port)
    figures = {}
    with httpx.Client(timeout=60) as client:
        send = {
            "health": lambda: client.get(f"{endpoint_url(port)}/{health}").raise_for_status(),
            "invoke": lambda: lam.invoke(FunctionName="fast", Payload=b"{}"),
            "gateway": lambda: client.post(url, content=b"{}").raise_for_status(),
        }
        for kind in KINDS:
            for _ in range(20):  # warm: an environment, connections, caches
                send[kind]()
            time.sleep(1)  # let the previous kind's telemetry flush outside the window
            before, walls = sum(process.cpu_times()[:2]), []
            for _ in range(requests):
                started = time.perf_counter()
                send[kind]()
                walls.append(time.perf_counter() - started)
            figures[kind] = (sum(process.cpu_times()[:2]) - before) / requests * 1000
            figures[f"{kind}_wall"] = sorted(walls)[len(walls) // 2] * 1000
    return figures


#: The peer emulator the bench installs from PyPI (its own venv: not a project dependency).
MINISTACK = "ministack==1.5.33"
PEER_VENV = Path(__file__).resolve().parents[1] / ".p300-build" / "bench-ministack"


def ministack_python() -> str:
    """The interpreter of the bench's MiniStack venv, created with uv on first use."""
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        uv = Path(sys.executable).parent / "uv"
        subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, PEER_VENV], check=True)
        subprocess.run([uv, "pip", "install", "--quiet", "--python", python, MINISTACK], check=True)
    return str(python)


def compare(*, requests: int, ministack: str | None = None) -> dict[str, dict[str, float]]:
    """`cpu_per_request` without and with the speed-up patches (and MiniStack's)."""
    figures = {
        "without": cpu_per_request(disabled=",".join(SPEED_PATCHES), requests=requests),
        "with": cpu_per_request(disabled="", requests=requests),
    }
    if ministack:
        figures["ministack"] = ministack_cpu(ministack, requests=requests)
    return figures


def report(figures: dict[str, dict[str, float]], targets: dict[str, float]) -> None:
    peer = figures.get("ministack")
    print(f"\n{'emulator CPU per request (bare), ms':<36}{'without':>9}{'with':>8}{'saved':>7}"
          f"{'target':>8}{'':>8}" + (f"{'MiniStack':>10}" if peer else ""))  # fmt: skip
    for kind in KINDS:
        without, with_ = figures["without"][kind], figures["with"][kind]
        target = targets.get(kind)
        verdict = "" if target is None else ("met" if with_ <= target else "missed")
        peer_cell = f"{peer[kind]:>10.2f}" if peer else ""
        print(f"  {kind:<34}{without:>9.2f}{with_:>8.2f}{1 - with_ / without:>7.0%}"
              f"{target or '':>8}{verdict:>8}{peer_cell}")  # fmt: skip
    walls = [("without", figures["without"]), ("with", figures["with"])]
    walls += [("MiniStack", peer)] if peer else []
    for kind in KINDS:
        print(f"  {kind} wall ms (median, 1 client): "
              + ", ".join(f"{name} {f[kind + '_wall']:.1f}" for name, f in walls))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--ministack", help="python of another venv with ministack installed")
    parser.add_argument("--no-peer", action="store_true", help="skip the MiniStack baseline")
    args = parser.parse_args()
    peer = None if args.no_peer else args.ministack or ministack_python()
    report(compare(requests=args.requests, ministack=peer), TARGETS)


#: The issue's targets, CPU ms per request.
TARGETS = {"invoke": 5.0, "gateway": 6.0}

if __name__ == "__main__":
    main()
