"""Benchmark: how fast the console draws an execution with 100 Map iterations.

On a local cloud (its own, torn down at the end, or a running one with ``--home``), a state
machine shaped like the ingest pipeline (the same states, Tasks replaced by Pass states so no
Lambda runs) is executed over 100 items and over 1 item. Measured, median of ``--runs``:
- the cloud reading the 100-iteration history (``get_execution_history``, every page): the floor;
- the console answering the page (``GET /executions/<arn>``: history, layout, SVG, HTML);
- a real headless Chromium (Debian's) loading the page until its ``load`` event;
with the 1-iteration execution's page as the baseline measured in the same run.

    .venv/bin/python bench/bench_console.py [--home DIR] [--runs 5]
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
from private_cloud import private_cloud

from p300_ops import paths
from p300_ops.localcloud.processes import free_port
from p300_ops.services import cloud, pipeline_executions

MACHINE = "p300-bench-console-map"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def pass_through(definition: dict) -> dict:
    """``definition`` with every Task a Pass state that keeps its Next/End (no Lambda runs)."""
    states = {}
    for name, state in definition["States"].items():
        if state["Type"] == "Task":
            state = {"Type": "Pass"} | {k: state[k] for k in ("Next", "End") if k in state}
        elif state["Type"] == "Map":
            state = state | {"ItemProcessor": pass_through(state["ItemProcessor"])}
        states[name] = state
    return definition | {"States": states}


def run_execution(sfn, arn: str, n_items: int) -> str:
    items = [{"key": f"subject_B{i:03d}/rec.parquet", "needs_processing": True}
             for i in range(n_items)]  # fmt: skip
    started = sfn.start_execution(
        stateMachineArn=arn, name=f"bench-{n_items}-{time.time_ns()}",
        input=json.dumps({"items": items, "mode": "catch_up"}),
    )["executionArn"]  # fmt: skip
    pipeline_executions.wait_for(sfn, started, timeout=600)
    return started


def median_s(action, runs: int) -> float:
    action()  # warm-up: caches, first imports
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def browser_load_s(url: str, runs: int) -> float:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})

        def load() -> None:
            page.goto(url, wait_until="load")
            assert page.locator("svg.graph g.state").count() > 0

        taken = median_s(load, runs)
        browser.close()
    return taken


def measure(home: Path, runs: int) -> None:
    connected = cloud.connect(home)
    sfn = connected.stepfunctions
    definition = json.loads((paths.REPO / "state_machines" / "ingest_and_process.asl.json")
                            .read_text())  # fmt: skip
    machines = pipeline_executions.deployed_state_machines(sfn)
    asl = json.dumps(pass_through(definition))
    if MACHINE in machines:
        arn = machines[MACHINE]
        sfn.update_state_machine(stateMachineArn=arn, definition=asl)
    else:
        arn = sfn.create_state_machine(
            name=MACHINE, definition=asl, roleArn="arn:aws:iam::000000000000:role/bench"
        )["stateMachineArn"]
    large, small = run_execution(sfn, arn, 100), run_execution(sfn, arn, 1)
    events = pipeline_executions.history(sfn, large)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", "from p300_ops.cli import main; main()", "console", "--port",
         str(port), "--home", str(home)], stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        server.stdout.readline()  # its URL: listening
        base = f"http://127.0.0.1:{port}/executions/"
        with httpx.Client(timeout=60) as client:

            def page(execution: str):
                return lambda: client.get(base + execution).raise_for_status()

            history_s = median_s(lambda: pipeline_executions.history(sfn, large), runs)
            small_s = median_s(page(small), runs)
            large_s = median_s(page(large), runs)
            size = len(client.get(base + large).content)
        browser_s = browser_load_s(base + large, runs)
        browser_small_s = browser_load_s(base + small, runs)
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(
        f"execution with 100 Map iterations: {len(events)} history events, page {size / 1e3:.0f} kB"
    )
    print(f"{'':44}{'median s':>9}{'× 1-iteration page':>20}")
    rows = [
        ("history read (get_execution_history)", history_s, None),
        ("console page, 1 iteration (baseline)", small_s, 1.0),
        ("console page, 100 iterations", large_s, large_s / small_s),
        ("Chromium load, 1 iteration", browser_small_s, browser_small_s / small_s),
        ("Chromium load, 100 iterations (target < 1 s)", browser_s, browser_s / small_s),
    ]
    for label, seconds, ratio in rows:
        print(f"{label:<44}{seconds:>9.3f}{'' if ratio is None else f'{ratio:>20.1f}'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", help="use the cloud running in this state home")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if args.home:
        measure(Path(args.home), args.runs)
        return
    stderr = lambda msg: print(msg, file=sys.stderr)  # noqa: E731 (up's progress, off stdout)
    with private_cloud("bench-console-", progress=stderr) as state:
        measure(Path(state.home), args.runs)


if __name__ == "__main__":
    main()
