"""Wire durable S3 into a starting LocalStack: recover, restore, then journal every change."""

import logging
import shutil
import time
from pathlib import Path

from localstack.aws.handlers import run_custom_response_handlers
from localstack.runtime.shutdown import SHUTDOWN_HANDLERS
from localstack.services.s3.provider import S3Provider

from .blobs import BlobStore
from .capture import restore
from .handler import DurableS3ResponseHandler
from .state import DurableLog
from .store import DurableS3ObjectStore

LOG = logging.getLogger(__name__)


def install(data_dir: Path, *, fault_file: Path | None = None) -> DurableLog:
    """Recover the S3 state from `data_dir` and make every later S3 change durable there.

    Must run before the S3 provider is created and before the gateway serves requests (an
    on_infra_start hook does both).

    Parameters
    ----------
    data_dir : Path
        The data directory (snapshot, journal, blobs/, spool/).
    fault_file : Path or None
        While this file exists, journal appends fail (for tests of the failure path).
    """
    started = time.monotonic()
    log = DurableLog(data_dir, fault_file=fault_file)
    restore(log.state)
    log.compact()
    blobs = BlobStore(data_dir / "blobs")
    collected = blobs.collect(log.state.referenced_blobs())
    LOG.info(
        "durable S3: restored %d buckets, %d keys, %d multipart uploads from %s in %.2f s "
        "(%d unreferenced blobs removed)",
        log.state.count("bucket"),
        log.state.count("key"),
        log.state.count("mpu"),
        data_dir,
        time.monotonic() - started,
        collected,
    )
    spool = data_dir / "spool"
    shutil.rmtree(spool, ignore_errors=True)
    spool.mkdir()
    _use_store_in_provider(DurableS3ObjectStore(str(spool), blobs))
    run_custom_response_handlers.append(DurableS3ResponseHandler(log))
    SHUTDOWN_HANDLERS.register(log.compact)
    return log


def _use_store_in_provider(store: DurableS3ObjectStore) -> None:
    original_init = S3Provider.__init__

    def init_with_durable_store(self, storage_backend=None):
        original_init(self, storage_backend or store)

    S3Provider.__init__ = init_with_durable_store
