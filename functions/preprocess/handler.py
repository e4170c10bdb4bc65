"""Lambda ``p300-preprocess``: an ingest output or catch-up raw item → its features object."""

import functools

import boto3

from p300_aws.events import parse_event
from p300_aws.mlflow_rest import MlflowRestTracker
from p300_aws.processing import PreprocessRequest, preprocess_object
from p300_aws.studies import StudyProfiles

S3 = boto3.client("s3")


@functools.cache
def tracker() -> MlflowRestTracker:
    # MLflow's REST API directly: the `mlflow` package would cost ~2 s of each cold start.
    return MlflowRestTracker.from_env()


def lambda_handler(event, context):
    request = parse_event(PreprocessRequest, event)
    result = preprocess_object(S3, tracker(), request, profiles=StudyProfiles(S3))
    return result.model_dump(mode="json")
