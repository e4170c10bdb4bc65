"""S3 event notifications leave only for changes that were made durable.

LocalStack's S3 provider hands each notification (EventBridge, SQS, SNS, Lambda) to a thread pool
from inside the operation (``S3Provider._notify``, e.g. at the end of ``put_object``), before the
gateway's response handlers run; the pool sends it within milliseconds. A change whose journal
append then failed (and is answered 500 and rolled back) would still have announced itself. With
durable S3 on, ``_notify`` builds the notification at the same point but parks it on the request
context; the durable S3 response handler sends it after the commit, or drops it.
"""

from localstack.aws.api import RequestContext
from localstack.services.s3.models import S3Bucket, S3DeleteMarker, S3Object
from localstack.services.s3.notifications import (
    NotificationDispatcher,
    S3EventNotificationContext,
)
from localstack.services.s3.provider import S3Provider
from localstack.utils.patch import Patch

PENDING_ATTR = "p300_pending_notifications"
Pending = tuple[NotificationDispatcher, S3EventNotificationContext, dict]


def defer_notifications() -> Patch:
    """The patch of ``S3Provider._notify`` that parks notifications on the request context."""

    def notify(
        original,
        self: S3Provider,
        context: RequestContext,
        s3_bucket: S3Bucket,
        s3_object: S3Object | S3DeleteMarker = None,
        s3_notif_ctx: S3EventNotificationContext = None,
    ):
        if not s3_bucket.notification_configuration:
            return
        if s3_notif_ctx is None:
            s3_notif_ctx = S3EventNotificationContext.from_request_context(
                context, s3_bucket=s3_bucket, s3_object=s3_object
            )
        pending: list[Pending] = context.__dict__.setdefault(PENDING_ATTR, [])
        pending.append(
            (self._notification_dispatcher, s3_notif_ctx, s3_bucket.notification_configuration)
        )

    return Patch.function(S3Provider._notify, notify)


def take_pending(context: RequestContext) -> list[Pending]:
    """The notifications the request produced (removed from the context)."""
    return context.__dict__.pop(PENDING_ATTR, [])


def send(pending: list[Pending]) -> None:
    for dispatcher, notification, configuration in pending:
        dispatcher.send_notifications(notification, configuration)
