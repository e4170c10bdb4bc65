"""Lambda ``p300-preprocess``: an ingest output or catch-up raw item → its features object, or
why the recording was rejected.

Environment: ``MLFLOW_TRACKING_URI`` and ``ALERTS_TOPIC_ARN`` (data-quality alerts).
"""

from p300_aws.cold_start import gc_paused

# Imports and clients without the garbage collector: see p300_aws.cold_start.
with gc_paused():
    import functools
    import os

    from p300_aws.alerts import TOPIC_ARN_ENV
    from p300_aws.clients import LazyClient, client
    from p300_aws.data_quality import QualityChannel
    from p300_aws.events import parse_event
    from p300_aws.mlflow_rest import MlflowRestTracker
    from p300_aws.processing import PreprocessRequest, preprocess_object
    from p300_aws.studies import StudyProfiles

    # SNS only carries data-quality alerts: its client is created by the first one.
    CLIENTS = {
        "s3": client("s3"),
        "cloudwatch": client("cloudwatch"),
        "sns": LazyClient("sns"),
    }


@functools.cache
def tracker() -> MlflowRestTracker:
    # MLflow's REST API directly: the `mlflow` package would cost ~2 s of each cold start.
    return MlflowRestTracker.from_env()


def lambda_handler(event, context):
    request = parse_event(PreprocessRequest, event)
    s3 = CLIENTS["s3"]
    quality = QualityChannel(
        s3, CLIENTS["sns"], CLIENTS["cloudwatch"], topic_arn=os.environ[TOPIC_ARN_ENV]
    )
    result = preprocess_object(s3, tracker(), request, profiles=StudyProfiles(s3), quality=quality)
    return result.model_dump(mode="json")
