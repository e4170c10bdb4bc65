"""The restore endpoint: ``POST /_p300/cloud-state/restore`` puts back what the previous run of
LocalStack had and the deploy did not bring back as it was, and answers a JSON report.

`p300 up` calls it once the stack is deployed again. Calling it again restores nothing twice:
each part skips what already exists.
"""

import json
import logging
import threading
import time

from localstack.http import Request, Response

from . import alarms, apigateway, executions, lambda_state
from .recorder import Recorder

LOG = logging.getLogger(__name__)
RESTORE_PATH = "/_p300/cloud-state/restore"


class Restorer:
    """Runs each part of the restore on the previous run's state, one call at a time."""

    def __init__(self, recorder: Recorder):
        self.recorder = recorder
        self._lock = threading.Lock()

    def report(self) -> dict:
        """Restore, and say what was found and done (see `p300_ops.localcloud.restore`)."""
        started = time.monotonic()
        previous = self.recorder.previous
        with self._lock:
            report = {
                "recovery_notes": self.recorder.notes,
                "ids": apigateway.restored_ids(previous, self.recorder),
                "api_keys": apigateway.restore_keys(self.recorder, previous),
                "functions": lambda_state.restore(self.recorder, previous),
                "executions": executions.restore(self.recorder, previous),
                "alarms": alarms.restore(self.recorder, previous),
            }
            report["archives_deleted"] = lambda_state.collect_archives(self.recorder.state)
        report["seconds"] = round(time.monotonic() - started, 3)
        LOG.info("cloud state: restored in %.2f s", report["seconds"])
        return report

    def __call__(self, request: Request) -> Response:
        try:
            body, status = self.report(), 200
        except Exception as error:  # the caller must hear of it, not find a half-restored cloud
            LOG.exception("cloud state: restore failed")
            body, status = {"error": f"{type(error).__name__}: {error}"}, 500
        return Response(json.dumps(body, default=str), status=status, mimetype="application/json")
