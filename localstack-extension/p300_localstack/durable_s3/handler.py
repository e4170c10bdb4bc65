"""The gateway response handler that journals what a successful S3 request changed.

It runs after the provider returned and before the response is sent. The gateway's chain swallows
exceptions from response handlers, so a failed journal append is turned into a 500 here: a client
is never told "done" for a change that is not in the journal.
"""

import logging
from xml.sax.saxutils import escape

from localstack.aws.api import RequestContext
from localstack.aws.chain import HandlerChain
from localstack.http import Response

from .capture import BLOB_WAIT_TIMEOUT_S, capture_bucket, capture_key, capture_multipart
from .journal import Record
from .state import DurableLog
from .touched import touched

LOG = logging.getLogger(__name__)


class DurableS3ResponseHandler:
    """Journal the resulting state of what each successful mutating S3 request touched.

    Parameters
    ----------
    log : DurableLog
        The journal to commit to.
    blob_timeout : float
        How long to wait for a visible object's content to reach its blob, in s.
    """

    def __init__(self, log: DurableLog, *, blob_timeout: float = BLOB_WAIT_TIMEOUT_S):
        self.log = log
        self.blob_timeout = blob_timeout

    def __call__(self, chain: HandlerChain, context: RequestContext, response: Response):
        if context.service is None or context.service.service_name != "s3":
            return
        if context.operation is None or not 200 <= response.status_code < 300:
            return
        things = touched(
            context.operation.name, context.service_request or {}, _response_fields(context)
        )
        if not things:
            return
        try:
            self.log.commit(lambda: [self._capture(context, kind, ident) for kind, ident in things])
        except Exception as error:
            LOG.exception("durable S3: journaling %s failed", context.operation.name)
            _turn_into_internal_error(response, error)

    def _capture(self, context: RequestContext, kind: str, ident: tuple[str, ...]) -> Record:
        account_id = context.account_id
        if kind == "bucket":
            return capture_bucket(ident[0], account_id)
        if kind == "key":
            return capture_key(*ident, account_id, timeout=self.blob_timeout)
        return capture_multipart(*ident, account_id, timeout=self.blob_timeout)


def _response_fields(context: RequestContext) -> dict:
    fields = dict(context.service_response or {})
    # A browser-form upload names its key in the form, not in the parsed request.
    if context.operation.name == "PostObject" and "Key" not in fields:
        fields["Key"] = context.request.form.get("key")
    return fields


def _turn_into_internal_error(response: Response, error: Exception) -> None:
    message = escape(f"the change could not be made durable: {error}")
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>InternalError</Code><Message>{message}</Message></Error>"
    )
    for header in ("ETag", "x-amz-version-id", "Location"):
        response.headers.pop(header, None)
    response.status_code = 500
    response.headers["Content-Type"] = "application/xml"
    response.set_data(body.encode())
