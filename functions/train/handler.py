"""Lambda ``p300-train``: a training request → the MLflow run and the registered model version;
an event with an ``action`` → that step of a hyperparameter tuning (`p300_aws.tuning`), or one
subject's calibration (``calibrate``, `p300_aws.calibration_job`)."""

from p300_aws.cold_start import gc_paused

# Imports and clients without the garbage collector: see p300_aws.cold_start.
with gc_paused():
    import functools

    import boto3

    # Imported at init, not by the first training: the provisioned environments of the alias the
    # train state machine invokes have then paid for them before any request arrives.
    import mlflow.sklearn  # noqa: F401
    import skops.io  # noqa: F401

    from p300_aws.events import parse_event
    from p300_aws.mlflow_tracking import MlflowTracker
    from p300_aws.tuning import TrainEvent, run_job

    S3 = boto3.client("s3")


@functools.cache
def tracker() -> MlflowTracker:
    return MlflowTracker.from_env()


def lambda_handler(event, context):
    job = parse_event(TrainEvent, event).root
    return run_job(S3, tracker(), job).model_dump(mode="json")
