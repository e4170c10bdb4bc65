"""Wire durable S3 into a starting LocalStack: recover, restore, then journal every change."""

import logging
import shutil
import time
from pathlib import Path

from localstack.aws.handlers import (
    run_custom_response_handlers,
    serve_custom_service_request_handlers,
)
from localstack.runtime.shutdown import SHUTDOWN_HANDLERS
from localstack.services.s3.provider import S3Provider

from .capture import restore
from .handler import DurableS3ResponseHandler, stamp_request_start
from .log import DEFAULT_COMPACT_BYTES, DurableLog
from .notifications import defer_notifications
from .store import DurableS3ObjectStore

LOG = logging.getLogger(__name__)


def install(
    data_dir: Path,
    *,
    recovery: str = "strict",
    compact_bytes: int = DEFAULT_COMPACT_BYTES,
    fault_file: Path | None = None,
) -> DurableLog:
    """Recover the S3 state from `data_dir` and make every later S3 change durable there.

    Must run before the S3 provider is created and before the gateway serves requests (an
    on_infra_start hook does both). Raises RecoveryRefused (with its report) when the stored
    state is damaged: LocalStack then does not start.

    Parameters
    ----------
    data_dir : Path
        The data directory (snapshots, journals, blobs/, spool/, quarantine/).
    recovery : str
        'strict' or 'salvage' (see recovery.py).
    compact_bytes : int
        Compact when the journal grows beyond this, in bytes.
    fault_file : Path or None
        While this file exists, journal appends (or blob writes) fail (for tests).
    """
    started = time.monotonic()
    log = DurableLog(
        data_dir, recovery=recovery, compact_bytes=compact_bytes, fault_file=fault_file
    )
    for note in log.recovery.notes:
        LOG.warning("durable S3 recovery: %s", note)
    restore(log.state)
    log.open()
    collected = log.collect_blobs()
    LOG.info(
        "durable S3: restored %d buckets, %d keys, %d multipart uploads from %s in %.2f s (%s)",
        log.state.count("bucket"),
        log.state.count("key"),
        log.state.count("mpu"),
        data_dir,
        time.monotonic() - started,
        "blob collection is off"
        if collected is None
        else f"{collected} unreferenced blobs removed",
    )
    spool = data_dir / "spool"
    shutil.rmtree(spool, ignore_errors=True)
    spool.mkdir()
    store = DurableS3ObjectStore(str(spool), log.blobs)
    _use_store_in_provider(store)
    defer_notifications().apply()
    serve_custom_service_request_handlers.append(stamp_request_start)
    run_custom_response_handlers.append(DurableS3ResponseHandler(log, store))
    SHUTDOWN_HANDLERS.register(log.compact)
    return log


def _use_store_in_provider(store: DurableS3ObjectStore) -> None:
    original_init = S3Provider.__init__

    def init_with_durable_store(self, storage_backend=None):
        original_init(self, storage_backend or store)

    S3Provider.__init__ = init_with_durable_store
