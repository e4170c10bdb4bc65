"""Lambda ``p300-train``: a training request → the MLflow run and the registered model version."""

import functools

import boto3

from p300_aws.mlflow_tracking import MlflowTracker
from p300_aws.training import TrainRequest, train_and_register

S3 = boto3.client("s3")


@functools.cache
def tracker() -> MlflowTracker:
    return MlflowTracker.from_env()


def lambda_handler(event, context):
    request = TrainRequest.from_event(event)
    return train_and_register(S3, tracker(), request)
