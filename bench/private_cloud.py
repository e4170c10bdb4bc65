"""A bench's own local cloud: started in a temporary home on free loopback ports, torn down
whatever happens (used by bench_pipeline, bench_scaling and bench_console)."""

import contextlib
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from p300_ops.localcloud import lifecycle
from p300_ops.localcloud.processes import free_port


@contextlib.contextmanager
def private_cloud(
    prefix: str,
    *,
    progress: Callable[[str], None] = lambda _: None,
    localstack_env: Mapping[str, str] | None = None,
) -> Iterator[lifecycle.CloudState]:
    """`lifecycle.up` (which deploys the stack) in a temporary home named after `prefix`; its
    state in the block, then `lifecycle.down` (which stops what `up` started, by PID).
    `localstack_env` is added to LocalStack's environment."""
    with tempfile.TemporaryDirectory(prefix=prefix) as home:
        config = lifecycle.CloudConfig(
            home=Path(home),
            localstack_port=free_port(),
            mlflow_port=free_port(),
            postgres_port=free_port(),
            localstack_env=dict(localstack_env or {}),
        )
        state = lifecycle.up(config, progress=progress)
        try:
            yield state
        finally:
            lifecycle.down(Path(home))
