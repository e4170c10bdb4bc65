"""A Lambda handler's module-level set-up (imports, clients, models) without garbage collection.

A cold start creates a few hundred thousand objects (modules, botocore's service models, pydantic's
schemas) that live as long as the environment. Python's cyclic collector runs every few thousand
allocations and scans the survivors again at each older-generation pass: ~40 ms of CPU per
function at init, about a tenth of it (`bench/bench_lambda_init.py`, docs/benchmarks.md).
`gc_paused` turns the collector off while the handler module sets up, then freezes what was built
(`gc.freeze`: never scanned again) and turns it back on, so invocations collect only their own
objects.
"""

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Run the block with the garbage collector off; afterwards freeze every object then alive
    into the permanent generation and turn the collector back on (if it was on).

    Meant for a handler module's set-up, around its imports and module-level clients::

        with gc_paused():
            from p300_aws.clients import client

            S3 = client("s3")
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
