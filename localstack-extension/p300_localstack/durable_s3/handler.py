"""The gateway handlers that make each S3 change durable, or undo it.

`stamp_request_start` runs before the provider and notes when a request started.
`DurableS3ResponseHandler` runs after the provider returned and before the response is sent:

- a successful mutating request (2xx, or PostObject's 303) is journaled, then its S3 event
  notifications are sent;
- when journaling fails, the change is rolled back in memory to its durable state, the
  notifications are dropped, and the response becomes a 500 (the gateway's chain swallows
  exceptions from response handlers, so the handler rewrites the response itself);
- a request that failed with a 5xx (e.g. its content could not be saved as a blob) is rolled back
  the same way, since the provider may have changed the live state before failing.

Waiting for a concurrent writer's blob happens outside the journal lock, so a slow or failed
write never stalls other requests.
"""

import logging
import time
from functools import partial
from xml.sax.saxutils import escape

from localstack.aws.api import RequestContext
from localstack.aws.chain import HandlerChain
from localstack.http import Response

from .capture import (
    BlobsPending,
    capture_bucket,
    capture_key,
    capture_multipart,
    capture_part,
    undo,
    wait_for_blobs,
)
from .journal import Record
from .log import DurableLog, Thing
from .notifications import send, take_pending
from .store import DurableS3ObjectStore
from .touched import touched, with_unsaved_buckets

LOG = logging.getLogger(__name__)
#: How long to wait for a visible object's writer to close, in s.
BLOB_WAIT_TIMEOUT_S = 30.0
STARTED_ATTR = "p300_started"


def stamp_request_start(chain: HandlerChain, context: RequestContext, response: Response):
    """Request handler: when the request started (a rollback fails requests that started
    before it and touch the same thing)."""
    context.__dict__[STARTED_ATTR] = time.monotonic()


class DurableS3ResponseHandler:
    """Journal (or roll back) what each mutating S3 request touched; see the module docstring.

    Parameters
    ----------
    log : DurableLog
        The journal to commit to.
    store : DurableS3ObjectStore
        The object store, whose in-memory contents a rollback drops.
    blob_timeout : float
        How long to wait for a visible object's content to reach its blob, in s.
    """

    def __init__(
        self,
        log: DurableLog,
        store: DurableS3ObjectStore,
        *,
        blob_timeout: float = BLOB_WAIT_TIMEOUT_S,
    ):
        self.log = log
        self.store = store
        self.blob_timeout = blob_timeout

    def __call__(self, chain: HandlerChain, context: RequestContext, response: Response):
        if context.service is None or context.service.service_name != "s3":
            return
        notifications = take_pending(context)
        if context.operation is None:
            return
        things = touched(
            context.operation.name, context.service_request or {}, _response_fields(context)
        )
        succeeded = context.service_exception is None and response.status_code < 400
        if not succeeded:
            if things and response.status_code >= 500:
                self._roll_back(context, things)
            return
        try:
            if things:
                self._commit(context, things)
        except Exception as error:
            LOG.exception("durable S3: journaling %s failed", context.operation.name)
            self._roll_back(context, things)
            _turn_into_internal_error(response, error)
            return
        send(notifications)

    def _commit(self, context: RequestContext, things: list[Thing]) -> list[Record]:
        started = context.__dict__.get(STARTED_ATTR, float("-inf"))
        deadline = time.monotonic() + self.blob_timeout

        def capture() -> list[Record]:
            plan = with_unsaved_buckets(things, self.log.state.has_bucket)
            return [self._capture(context, kind, ident) for kind, ident in plan]

        while True:
            try:
                return self.log.commit(things, capture, started=started)
            except BlobsPending as pending:
                wait_for_blobs(pending.items, timeout=max(0.0, deadline - time.monotonic()))

    def _capture(self, context: RequestContext, kind: str, ident: tuple[str, ...]) -> Record:
        account_id = context.account_id
        if kind == "bucket":
            return capture_bucket(ident[0], account_id)
        if kind == "key":
            return capture_key(*ident, account_id)
        if kind == "mpu":
            return capture_multipart(*ident, account_id)
        return capture_part(*ident, account_id)

    def _roll_back(self, context: RequestContext, things: list[Thing]) -> None:
        try:
            self.log.rollback(
                things, partial(undo, account_id=context.account_id, store=self.store)
            )
        except Exception:
            LOG.exception("durable S3: rolling back %s failed", context.operation.name)


def _response_fields(context: RequestContext) -> dict:
    fields = dict(context.service_response or {})
    # A browser-form upload names its key in the form, not in the parsed request.
    if context.operation.name == "PostObject" and "Key" not in fields:
        fields["Key"] = context.request.form.get("key")
    return fields


def _turn_into_internal_error(response: Response, error: Exception) -> None:
    message = escape(f"the change could not be made durable and was undone: {error}")
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>InternalError</Code><Message>{message}</Message></Error>"
    )
    for header in ("ETag", "x-amz-version-id", "Location"):
        response.headers.pop(header, None)
    response.status_code = 500
    response.headers["Content-Type"] = "application/xml"
    response.set_data(body.encode())
