"""Shared by the restart tests: waiting for the pipeline's executions."""

import time

from p300_ops.services import pipeline_executions

WAIT_S = 900.0


def wait_for_ingest_runs(sfn, count: int, *, timeout: float = WAIT_S) -> None:
    """Wait until at least `count` ingest executions succeeded and none runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = pipeline_executions.list_executions(sfn, state_machine="ingest", limit=1000)
        # An execution listed before its worker starts has no status yet.
        statuses = [run.get("status", "RUNNING") for run in runs]
        if statuses.count("SUCCEEDED") >= count and "RUNNING" not in statuses:
            return
        time.sleep(2.0)
    raise AssertionError(f"{count} ingest runs did not finish within {timeout:.0f} s")
