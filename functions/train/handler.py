"""Lambda ``p300-train``: a training request → the MLflow run and the registered model version.

Events with an ``action`` are the steps of a hyperparameter tuning (`p300_aws.tuning`).
"""

import functools

import boto3

# Imported at init, not by the first training: the provisioned environments of the alias the
# train state machine invokes have then paid for them before any request arrives.
import mlflow.sklearn  # noqa: F401
import skops.io  # noqa: F401

from p300_aws import tuning
from p300_aws.mlflow_tracking import MlflowTracker
from p300_aws.training import TrainRequest, train_and_register

S3 = boto3.client("s3")


@functools.cache
def tracker() -> MlflowTracker:
    return MlflowTracker.from_env()


def lambda_handler(event, context):
    if "action" in event:
        return tuning.handle_event(S3, tracker(), event)
    request = TrainRequest.from_event(event)
    return train_and_register(S3, tracker(), request)
