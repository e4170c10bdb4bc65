"""Lambda ``p300-check-drift``: a ``p300-preprocess`` output → the same with its drift verdict.

Environment: ``MLFLOW_TRACKING_URI`` (where alias ``champion`` is resolved) and
``ALERTS_TOPIC_ARN``. The reference of a model version is read once per execution environment.
"""

from p300_aws.cold_start import gc_paused

# Imports and clients without the garbage collector: see p300_aws.cold_start.
with gc_paused():
    import functools
    import os

    from p300_aws.alerts import TOPIC_ARN_ENV
    from p300_aws.clients import LazyClient, client
    from p300_aws.drift_check import (
        CheckedSubject,
        DriftCheckRequest,
        ReferenceStore,
        check_subject,
    )
    from p300_aws.events import parse_event
    from p300_aws.mlflow_tracking import TRACKING_URI_ENV

    # SNS only carries drift alerts: its client is created by the first one.
    CLIENTS = {
        "s3": client("s3"),
        "cloudwatch": client("cloudwatch"),
        "sns": LazyClient("sns"),
    }


@functools.cache
def reference_store() -> ReferenceStore:
    return ReferenceStore(CLIENTS["s3"], os.environ.get(TRACKING_URI_ENV, ""))


def lambda_handler(event, context):
    """The preprocess result with the check's outcome added as ``drift``."""
    request = parse_event(DriftCheckRequest, event)
    drift = check_subject(
        CLIENTS["s3"], CLIENTS["cloudwatch"], CLIENTS["sns"], reference_store(), request,
        topic_arn=os.environ[TOPIC_ARN_ENV],
    )  # fmt: skip
    return CheckedSubject(**request.model_dump(), drift=drift).model_dump(mode="json")
