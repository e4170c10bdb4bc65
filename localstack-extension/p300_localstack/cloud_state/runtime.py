"""Wire the cloud state into a starting LocalStack: recover, journal every change, serve the
restore endpoint, and end running executions as ABORTED at a clean stop."""

import logging
import time
from pathlib import Path

from localstack.aws.handlers import run_custom_response_handlers
from localstack.runtime.shutdown import SHUTDOWN_HANDLERS
from localstack.services.edge import ROUTER

from p300_localstack.durable_s3.log import DEFAULT_COMPACT_BYTES

from . import alarms
from .apigateway import KeysAndIds
from .executions import ExecutionJournal
from .handler import CloudStateResponseHandler
from .recorder import Recorder
from .restore import RESTORE_PATH, Restorer

LOG = logging.getLogger(__name__)


def install(
    data_dir: Path, *, recovery: str = "strict", compact_bytes: int = DEFAULT_COMPACT_BYTES
) -> Recorder:
    """Recover the cloud state from `data_dir` and journal every later change there.

    Must run before the gateway serves requests (an on_infra_start hook does). Raises
    RecoveryRefused (with its report) when the stored state is damaged: LocalStack then does
    not start.
    """
    started = time.monotonic()
    recorder = Recorder(data_dir, recovery=recovery, compact_bytes=compact_bytes)
    for note in recorder.notes:
        LOG.warning("cloud state recovery: %s", note)
    journal = ExecutionJournal(recorder)
    for patch in [*KeysAndIds(recorder).install(), *journal.patches(), *alarms.patches(recorder)]:
        patch.apply()
    run_custom_response_handlers.append(CloudStateResponseHandler(recorder))
    ROUTER.add(RESTORE_PATH, Restorer(recorder), methods=["POST"])

    def stop() -> None:
        cut_off = journal.cut_off_running()
        if cut_off:
            LOG.warning("cloud state: %d running executions ended as ABORTED at shutdown", cut_off)
        recorder.close()

    SHUTDOWN_HANDLERS.register(stop)
    LOG.info(
        "cloud state: %d records recovered from %s in %.2f s",
        sum(1 for _ in recorder.previous.records()),
        data_dir,
        time.monotonic() - started,
    )
    return recorder
