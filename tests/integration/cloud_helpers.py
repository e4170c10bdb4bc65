"""Shared by the integration tests: a local cloud on free ports, and the processes it runs."""

from pathlib import Path

import psutil

from p300_ops.localcloud import lifecycle
from p300_ops.localcloud.processes import free_port


def cloud_config(home: Path, *, backend: str = "sqlite") -> lifecycle.CloudConfig:
    return lifecycle.CloudConfig(
        home=home,
        localstack_port=free_port(),
        mlflow_port=free_port(),
        postgres_port=free_port(),
        backend=backend,
    )


def process_family(state: lifecycle.CloudState) -> list[psutil.Process]:
    """Every live process `up` started, with all their descendants."""
    family = []
    for server in state.servers.values():
        proc = server.process()
        if proc is not None:
            family += [proc, *proc.children(recursive=True)]
    return family


def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    return [p for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
